"""Repeats within an import file, found in PostgreSQL rather than in the worker's memory.

An import refuses the same participant id, person or record twice in one file,
which needs every key seen so far. Kept in Python sets, those grew with the
file (about 200 bytes a row). Here each key goes, with its row number, into a
temporary table on the connection the import checks with, a chunk of rows at a
time, and the database says which rows repeat a key. The tables are dropped
with the transaction they are made in, which the import always rolls back:
nothing of them outlasts the check, whatever happens.

A chunk's keys travel as one newline-separated text parameter, split by the
server, and only the rows or keys found come back: per-row work on the client
stays a join of strings.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from sqlalchemy import (
    Column,
    ColumnElement,
    FromClause,
    Integer,
    MetaData,
    Table,
    TableValuedAlias,
    Text,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.schema import CreateIndex, CreateTable, Index

from cohortflow.store.sql import Statement, ddl, execute

# A chunk's values travel as one text parameter a column (lines of keys, comma-separated row numbers), which
# PostgreSQL splits: one parameter however many rows, and no array for the driver to build.


def _lines_of(name: str) -> ColumnElement[list[str]]:
    return func.string_to_array(bindparam(name), "\n")


def _numbers_of(name: str) -> ColumnElement[Any]:
    return cast(func.string_to_array(bindparam(name), ","), ARRAY(Integer()))


def _unnest(alias: str, *columns: tuple[str, ColumnElement[Any]]) -> TableValuedAlias:
    """The chunk as rows: ``unnest(...) AS alias(column, ...)``."""
    return (
        func.unnest(*(array for _, array in columns))
        .table_valued(*(name for name, _ in columns))
        .render_derived(name=alias)
    )


def _recorded(keys: Table, key: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether the table holds the key. A correlated min() is answered from the (key, row) index, one probe a key
    however large the table grows; an EXISTS could be planned as a hash of the whole table, which has no
    statistics to say otherwise."""
    t = keys.alias("t")
    return select(func.min(t.c.row)).where(t.c.key == key).scalar_subquery().is_not(None)


@dataclass(frozen=True)
class _KeyStatements:
    create: tuple[str, str]
    add: Statement
    repeats: Statement
    recorded: Statement


@cache
def _key_statements(name: str) -> _KeyStatements:
    """The statements of a key table of this name, compiled once."""
    keys = Table(
        name,
        MetaData(),
        Column("key", Text(collation="C"), nullable=False),
        Column("row", Integer, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    pairs = _unnest("k", ("key", _lines_of("keys")), ("row", _numbers_of("rows")))
    add = insert(keys).from_select(["key", "row"], select(pairs.c.key, pairs.c.row))
    chunk = select(
        pairs.c.key, pairs.c.row, func.min(pairs.c.row).over(partition_by=pairs.c.key).label("first_here")
    ).cte("k")
    # Inserted by the same statement, and unseen by its SELECT: a key counts as recorded before only if it was.
    record = insert(keys).from_select(["key", "row"], select(chunk.c.key, chunk.c.row)).cte("recorded")
    repeats = (
        select(chunk.c.row).where(or_(chunk.c.first_here < chunk.c.row, _recorded(keys, chunk.c.key))).add_cte(record)
    )
    asked = _unnest("k", ("key", _lines_of("keys")))
    recorded = select(asked.c.key).where(_recorded(keys, asked.c.key))
    index = Index(f"{name}_key_row", keys.c.key, keys.c.row)
    return _KeyStatements(
        (ddl(CreateTable(keys)), ddl(CreateIndex(index))), Statement(add), Statement(repeats), Statement(recorded)
    )


@dataclass(frozen=True)
class _LatestStatements:
    create: str
    put: Statement
    matching: Statement


@cache
def _latest_statements(name: str) -> _LatestStatements:
    latest = Table(
        name,
        MetaData(),
        Column("subject", Text(collation="C"), primary_key=True),
        Column("fingerprint", Text, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    given = _unnest("k", ("subject", _lines_of("subjects")), ("fingerprint", _lines_of("fingerprints")))
    put = upsert(latest).from_select(["subject", "fingerprint"], select(given.c.subject, given.c.fingerprint))
    put = put.on_conflict_do_update(index_elements=["subject"], set_={"fingerprint": put.excluded.fingerprint})
    rows = _unnest(
        "k",
        ("subject", _lines_of("subjects")),
        ("fingerprint", _lines_of("fingerprints")),
        ("row", _numbers_of("rows")),
    )
    t: FromClause = latest.alias("t")
    matching = select(rows.c.row).join_from(
        rows, t, (t.c.subject == rows.c.subject) & (t.c.fingerprint == rows.c.fingerprint)
    )
    return _LatestStatements(ddl(CreateTable(latest)), Statement(put), Statement(matching))


def text_key(*parts: str) -> str:
    """One key for ``parts``: distinct parts give distinct keys, on one line, of text PostgreSQL stores."""
    return json.dumps(parts[0] if len(parts) == 1 else parts)


def _lines(keys: Collection[str]) -> str:
    joined = "\n".join(keys)
    if joined.count("\n") != len(keys) - 1:
        raise ValueError("a key spans lines; make keys with text_key")
    return joined


def _pairs(pairs: Sequence[tuple[str, int]]) -> dict[str, str]:
    return {"keys": _lines([k for k, _ in pairs]), "rows": ",".join(str(row) for _, row in pairs)}


class KeyTable:
    """A temporary table of (key, row) pairs from one import file.

    Make it with :meth:`create` inside a transaction of ``conn``; it is dropped
    when that transaction ends.
    """

    def __init__(self, conn: AsyncConnection[TupleRow], table: str) -> None:
        self._conn = conn
        self._statements = _key_statements(table)

    @classmethod
    async def create(cls, conn: AsyncConnection[TupleRow], table: str) -> KeyTable:
        keys = cls(conn, table)
        for statement in keys._statements.create:
            await conn.execute(statement)
        return keys

    async def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Record each (key, row)."""
        if pairs:
            await execute(self._conn, self._statements.add, **_pairs(pairs))

    async def repeats(self, pairs: Sequence[tuple[str, int]]) -> set[int]:
        """Record each (key, row), and return the rows whose key was recorded before: by an earlier call, or
        on an earlier row of this one."""
        if not pairs:
            return set()
        cur = await execute(self._conn, self._statements.repeats, **_pairs(pairs))
        return {row for (row,) in await cur.fetchall()}

    async def recorded(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that have been recorded."""
        if not keys:
            return set()
        cur = await execute(self._conn, self._statements.recorded, keys=_lines(keys))
        return {key for (key,) in await cur.fetchall()}


class LatestTable:
    """A temporary table of what the cohort has recorded: the latest fingerprint of each subject.

    An import asks it which rows say exactly what is recorded about their subject, so that a file
    uploaded again (by someone who may apply other rows of it) applies only the rows not yet applied.
    Made like a :class:`KeyTable`, in a transaction of ``conn``, and dropped with it.
    """

    def __init__(self, conn: AsyncConnection[TupleRow], table: str) -> None:
        self._conn = conn
        self._statements = _latest_statements(table)

    @classmethod
    async def create(cls, conn: AsyncConnection[TupleRow], table: str) -> LatestTable:
        latest = cls(conn, table)
        await conn.execute(latest._statements.create)
        return latest

    async def put(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record each (subject, fingerprint), in the order they happened: a later one replaces an earlier."""
        last = dict(pairs)  # one row per subject, its latest
        if last:
            subjects, fingerprints = _lines(list(last)), _lines(list(last.values()))
            await execute(self._conn, self._statements.put, subjects=subjects, fingerprints=fingerprints)

    async def matching(self, rows: Sequence[tuple[str, str, int]]) -> set[int]:
        """The rows of (subject, fingerprint, row) whose subject's latest fingerprint is theirs."""
        if not rows:
            return set()
        cur = await execute(
            self._conn,
            self._statements.matching,
            subjects=_lines([s for s, _, _ in rows]),
            fingerprints=_lines([f for _, f, _ in rows]),
            rows=",".join(str(row) for _, _, row in rows),
        )
        return {row for (row,) in await cur.fetchall()}
