"""The event store's two drivers, each on the paths where it measured faster, and the seam between them.

In the side-by-side benchmark on this machine (``bench/drivers.py``, figures in ``docs/benchmarks-drivers.md``):

- appending with hashing ran 10 to 20% faster through psycopg's COPY than through asyncpg's, though asyncpg
  spent less client CPU. asyncpg sends a COPY in half-megabyte messages (its ``_COPY_BUFFER_SIZE``), some 800
  events each: the server waits for the first while the client hashes, and works on the last after the client
  is done, some 15 ms of a 10,000-event batch in which the two do not overlap; psycopg sends every few dozen rows.
  Every append (in the store's own transaction or a caller's, where an outbox row commits with the event that
  records it) runs on psycopg;
- reading a stream, reading the log from a position and verification ran a few per cent faster on asyncpg, with
  less client CPU: every read of events runs on asyncpg.

psycopg is also the driver of the rest of the code. The append is one piece of code over :class:`Wire`, so the
benchmark runs the store's own append on either driver; both run the same Core statements (compiled for each,
:class:`cohortflow.store.sql.Statement`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import Any, Protocol, TypeAlias
from urllib.parse import quote, urlencode

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from cohortflow.store import tables as t
from cohortflow.store.sql import Statement

EVENT_COLUMNS = tuple(c.name for c in t.events.columns)
"""The columns of ``events`` in table order: the order of a stored event's row wherever the store reads or copies
one."""
Row: TypeAlias = tuple[Any, ...] | asyncpg.Record
"""A row as either driver gives it."""
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""An asyncpg connection, or one lent by a pool."""
COPY_TYPES = ("int8", "text", "int4", "text", "int2", "text", "text", "timestamptz", "text", "text", "text")
"""How psycopg writes each column of ``events`` (:data:`EVENT_COLUMNS`) in COPY's binary format. The JSON and the
hashes go as text: the binary form of ``json`` and ``char`` is their text, which a ``json`` dumper would encode
again."""
_COPY_BINARY = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def asyncpg_url(conninfo: str) -> str:
    """A database as libpq reads it (a ``postgresql://`` URL or ``key=value`` pairs, as ``DATABASE_URL`` may give
    it) in the URL form asyncpg reads, every parameter in the query: both drivers connect where the settings say.

    libpq's own reading (psycopg's ``conninfo_to_dict``) is taken rather than parsing the text twice.
    ``connect_timeout`` is left out: asyncpg is given its own, and would send an unknown parameter to the server
    as a setting."""
    params = conninfo_to_dict(conninfo)
    params.pop("connect_timeout", None)
    database = str(params.pop("dbname", ""))
    return f"postgresql:///{quote(database)}?{urlencode(params)}"


class Wire(Protocol):
    """One connection inside an open transaction, whichever driver holds it."""

    async def rows(self, statement: Statement, /, **values: Any) -> Sequence[Row]:
        """The rows ``statement`` returns (none for a statement that returns none)."""
        ...

    async def copy_events(self, rows: AsyncIterable[tuple[Any, ...]]) -> None:
        """``rows`` into ``events`` by COPY, as they come (a large append is never held whole)."""
        ...


class PsycopgWire:
    """A psycopg connection; COPY in the binary format, which costs the client and the server less than text (the
    columns' types are those of chain format 2, migration 0017: ``json``, not ``jsonb``)."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def rows(self, statement: Statement, /, **values: Any) -> Sequence[Row]:
        cur = await self._conn.execute(statement.sql, statement.args(values))
        return await cur.fetchall() if cur.description is not None else []

    async def copy_events(self, rows: AsyncIterable[tuple[Any, ...]]) -> None:
        async with self._conn.cursor() as cur, cur.copy(_COPY_BINARY) as copy:
            copy.set_types(list(COPY_TYPES))
            async for row in rows:
                await copy.write_row(row)
