"""SQLAlchemy Core statements run on the store's own psycopg and asyncpg connections.

The queries are composed with Core over the tables of :mod:`cohortflow.store.tables`; the connections stay the
psycopg pools the store already keeps (sized for its work, with their row factories, COPY and pipelines). A second
pool behind a SQLAlchemy engine would double the connections for nothing, so a statement is only *compiled* with
SQLAlchemy's psycopg dialect, into the SQL text and named parameters (``%(name)s``) that psycopg runs as it ran the
hand-written strings before.

Values are bound by psycopg, not by SQLAlchemy's type processing: pass what psycopg adapts (a ``list`` for an
array, ``Jsonb`` for a JSON document). The dialect renders no casts on parameters, so PostgreSQL infers their types
from the columns they meet, as it did for the strings. A constant statement is compiled once, at import
(:class:`Statement`); one put together per call (optional filters) is compiled where it is run (:func:`execute`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from sqlalchemy import BindParameter
from sqlalchemy.dialects.postgresql.psycopg import PGCompiler_psycopg, PGDialect_psycopg
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.ddl import ExecutableDDLElement


class _Compiler(PGCompiler_psycopg):
    """Values written into a statement (a JSON key, a time zone, an argument of ``left``) are rendered as SQL
    literals, as the strings had them: PostgreSQL then matches an expression index (``left(national_id, 6)``) in
    every plan, a generic one too, and a logged statement reads as it runs. Only the ``bindparam``s stay parameters.
    """

    def visit_bindparam(  # the signature is SQLCompiler's
        self,
        bindparam: BindParameter[Any],
        within_columns_clause: bool = False,
        literal_binds: bool = False,
        skip_bind_expression: bool = False,
        literal_execute: bool = False,
        render_postcompile: bool = False,
        is_upsert_set: bool = False,
        **kwargs: Any,
    ) -> str:
        constant = not bindparam.required and bindparam.callable is None
        text: str = super().visit_bindparam(  # type: ignore[no-untyped-call]
            bindparam,
            within_columns_clause,
            literal_binds or constant,
            skip_bind_expression,
            literal_execute,
            render_postcompile,
            is_upsert_set,
            **kwargs,
        )
        return text


class _Dialect(PGDialect_psycopg):
    statement_compiler = _Compiler


def _dialect(paramstyle: str) -> _Dialect:
    dialect = _Dialect(paramstyle=paramstyle)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
    dialect.bind_typing = BindTyping.NONE  # the driver binds the values; no "%(x)s::VARCHAR" casts in the text
    # A JSON path as the -> operator, which every supported PostgreSQL reads, not the subscript of 14 and later (the
    # dialect decides between them when it connects, which this one never does).
    dialect._supports_jsonb_subscripting = False
    return dialect


DIALECT = _dialect("pyformat")
"""psycopg's parameters: ``%(name)s``."""
NUMBERED = _dialect("numeric_dollar")
"""asyncpg's parameters: ``$1``, ``$2`` … in the order :attr:`Statement.order` names them."""


class Statement:
    """A Core statement compiled once: its SQL text and the names of its parameters (its ``bindparam``s).

    ``args(name=value, ...)`` gives the parameters for one execution on psycopg (``sql``), ``positional(...)`` the
    same for asyncpg (``numbered``), each ``bindparam`` given exactly once (a misspelt or missing name is a
    ``KeyError`` here, not a wrong query).
    """

    __slots__ = ("_numbered", "_statement", "needed", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql: str = str(compiled)
        self.needed = frozenset(compiled.binds)
        self._statement = statement
        self._numbered: tuple[str, tuple[str, ...]] | None = None  # compiled when first run on asyncpg

    @property
    def numbered(self) -> str:
        """The text for asyncpg."""
        return self._numbered_form()[0]

    @property
    def order(self) -> tuple[str, ...]:
        """The parameters' names in the order of ``$1``, ``$2`` …"""
        return self._numbered_form()[1]

    def _numbered_form(self) -> tuple[str, tuple[str, ...]]:
        if self._numbered is None:
            compiled = self._statement.compile(dialect=NUMBERED)
            assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
            self._numbered = (str(compiled), tuple(compiled.positiontup))
        return self._numbered

    def args(self, values: Mapping[str, Any] | None = None, /, **named: Any) -> dict[str, Any]:
        given = {**(values or {}), **named}
        if given.keys() != self.needed:
            missing, unknown = self.needed - given.keys(), given.keys() - self.needed
            raise KeyError(f"parameters missing {sorted(missing)}, unknown {sorted(unknown)} for: {self.sql}")
        return given

    def positional(self, values: Mapping[str, Any] | None = None, /, **named: Any) -> list[Any]:
        given = self.args(values, **named)
        return [given[name] for name in self.order]

    def __str__(self) -> str:
        return self.sql


def ddl(element: ExecutableDDLElement) -> str:
    """A schema statement (CREATE TABLE, CREATE INDEX) as PostgreSQL's text."""
    return str(element.compile(dialect=DIALECT))


async def execute(
    conn: AsyncConnection[Any], statement: Statement | ClauseElement, /, **values: Any
) -> AsyncCursor[Any]:
    """Run a statement (compiled here if it is not yet) on a psycopg connection; the cursor holds its rows."""
    compiled = statement if isinstance(statement, Statement) else Statement(statement)
    return await conn.execute(compiled.sql, compiled.args(values))


async def execute_many(conn: AsyncConnection[Any], statement: Statement, rows: Iterable[Mapping[str, Any]]) -> None:
    """Run a compiled statement once per row of parameters, in one ``executemany`` (pipelined by psycopg)."""
    async with conn.cursor() as cur:
        await cur.executemany(statement.sql, [statement.args(row) for row in rows])
