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

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

_UNNEST = "unnest(string_to_array(%s, E'\\n'), string_to_array(%s, ',')::integer[]) AS k(key, row)"
# A correlated min() is answered from the (key, row) index, one probe a key however large the table grows;
# an EXISTS could be planned as a hash of the whole table, which has no statistics to say otherwise.
_RECORDED = "(SELECT min(t.row) FROM {} t WHERE t.key = k.key) IS NOT NULL"


def text_key(*parts: str) -> str:
    """One key for ``parts``: distinct parts give distinct keys, on one line, of text PostgreSQL stores."""
    return json.dumps(parts[0] if len(parts) == 1 else parts)


def _lines(keys: Collection[str]) -> str:
    joined = "\n".join(keys)
    if joined.count("\n") != len(keys) - 1:
        raise ValueError("a key spans lines; make keys with text_key")
    return joined


class KeyTable:
    """A temporary table of (key, row) pairs from one import file.

    Make it with :meth:`create` inside a transaction of ``conn``; it is dropped
    when that transaction ends.
    """

    def __init__(self, conn: AsyncConnection[TupleRow], table: str) -> None:
        self._conn = conn
        self._table = sql.Identifier(table)

    @classmethod
    async def create(cls, conn: AsyncConnection[TupleRow], table: str) -> KeyTable:
        keys = cls(conn, table)
        await conn.execute(
            sql.SQL(
                'CREATE TEMPORARY TABLE {} (key text COLLATE "C" NOT NULL, row integer NOT NULL) ON COMMIT DROP'
            ).format(keys._table)
        )
        await conn.execute(sql.SQL("CREATE INDEX ON {} (key, row)").format(keys._table))
        return keys

    async def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Record each (key, row)."""
        if pairs:
            await self._conn.execute(
                sql.SQL("INSERT INTO {} (key, row) SELECT key, row FROM " + _UNNEST).format(self._table),
                (_lines([k for k, _ in pairs]), ",".join(str(row) for _, row in pairs)),
            )

    async def repeats(self, pairs: Sequence[tuple[str, int]]) -> set[int]:
        """Record each (key, row), and return the rows whose key was recorded before: by an earlier call, or
        on an earlier row of this one."""
        if not pairs:
            return set()
        cur = await self._conn.execute(
            sql.SQL(
                "WITH k AS (SELECT key, row, min(row) OVER (PARTITION BY key) AS first_here FROM " + _UNNEST + "),"
                " recorded AS (INSERT INTO {} (key, row) SELECT key, row FROM k)"  # unseen by the SELECT below
                " SELECT row FROM k WHERE first_here < row OR " + _RECORDED
            ).format(self._table, self._table),
            (_lines([k for k, _ in pairs]), ",".join(str(row) for _, row in pairs)),
        )
        return {row for (row,) in await cur.fetchall()}

    async def recorded(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that have been recorded."""
        if not keys:
            return set()
        cur = await self._conn.execute(
            sql.SQL("SELECT key FROM unnest(string_to_array(%s, E'\\n')) AS k(key) WHERE " + _RECORDED).format(
                self._table
            ),
            (_lines(keys),),
        )
        return {key for (key,) in await cur.fetchall()}


class LatestTable:
    """A temporary table of what the cohort has recorded: the latest fingerprint of each subject.

    An import asks it which rows say exactly what is recorded about their subject, so that a file
    uploaded again (by someone who may apply other rows of it) applies only the rows not yet applied.
    Made like a :class:`KeyTable`, in a transaction of ``conn``, and dropped with it.
    """

    def __init__(self, conn: AsyncConnection[TupleRow], table: str) -> None:
        self._conn = conn
        self._table = sql.Identifier(table)

    @classmethod
    async def create(cls, conn: AsyncConnection[TupleRow], table: str) -> LatestTable:
        latest = cls(conn, table)
        await conn.execute(
            sql.SQL(
                'CREATE TEMPORARY TABLE {} (subject text COLLATE "C" PRIMARY KEY, fingerprint text NOT NULL)'
                " ON COMMIT DROP"
            ).format(latest._table)
        )
        return latest

    async def put(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record each (subject, fingerprint), in the order they happened: a later one replaces an earlier."""
        last = dict(pairs)  # one row per subject, its latest
        if last:
            await self._conn.execute(
                sql.SQL(
                    "INSERT INTO {} (subject, fingerprint)"
                    " SELECT * FROM unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n'))"
                    " ON CONFLICT (subject) DO UPDATE SET fingerprint = EXCLUDED.fingerprint"
                ).format(self._table),
                (_lines(list(last)), _lines(list(last.values()))),
            )

    async def matching(self, rows: Sequence[tuple[str, str, int]]) -> set[int]:
        """The rows of (subject, fingerprint, row) whose subject's latest fingerprint is theirs."""
        if not rows:
            return set()
        cur = await self._conn.execute(
            sql.SQL(
                "SELECT k.row FROM unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n'),"
                " string_to_array(%s, ',')::integer[]) AS k(subject, fingerprint, row)"
                " JOIN {} t ON t.subject = k.subject AND t.fingerprint = k.fingerprint"
            ).format(self._table),
            (
                _lines([s for s, _, _ in rows]),
                _lines([f for _, f, _ in rows]),
                ",".join(str(row) for _, _, row in rows),
            ),
        )
        return {row for (row,) in await cur.fetchall()}
