"""Appending as a version before chain format 2 did, into a store migrated only that far (``data`` and
``metadata`` still JSONB): the store's own append code, its rows sent by COPY in the text format, which JSONB
columns take. The store itself copies in the binary format of the ``json`` columns of format 2."""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import Any

from psycopg import AsyncConnection

from cohortflow.store.eventstore import append_events, libpq_url
from cohortflow.store.records import NewEvent
from cohortflow.store.sql import Statement
from cohortflow.store.wire import EVENT_COLUMNS, PsycopgWire, Row


class TextCopyWire:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn
        self._statements = PsycopgWire(conn)

    async def rows(self, statement: Statement, /, **values: Any) -> Sequence[Row]:
        return await self._statements.rows(statement, **values)

    async def copy_events(self, rows: AsyncIterable[tuple[Any, ...]]) -> None:
        async with self._conn.cursor() as cur, cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            async for row in rows:
                await copy.write_row(row)


async def append_as_before(url: str, stream_id: str, events: Sequence[NewEvent], idempotency_key: str) -> None:
    conn = await AsyncConnection.connect(libpq_url(url))
    try:
        async with conn.transaction():
            await append_events(
                TextCopyWire(conn),
                stream_id,
                events,
                idempotency_key=idempotency_key,
                expected_version=None,
                on_progress=None,
                count=None,
            )
    finally:
        await conn.close()
