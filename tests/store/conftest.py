"""The store's contract is one suite run against every path an append can take.

The store appends on asyncpg in a transaction of its own (``append``, ``append_each``), and on psycopg inside a
caller's transaction (``append_in``, ``append_each_in``: an outbox row and its event commit together). Each test
that takes ``appender`` runs once per path; reads have one path (asyncpg) and are checked by the same tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from cohortflow.store.eventstore import Append, EventStore
from cohortflow.store.records import AppendResult, NewEvent

APPEND_PATHS = ("asyncpg", "psycopg")


@dataclass(frozen=True)
class Appender:
    """Appends to ``store`` by one path: ``asyncpg`` (the store's own transaction) or ``psycopg`` (a caller's)."""

    store: EventStore
    path: str

    async def append(self, stream_id: str, events: Iterable[NewEvent], **options: Any) -> AppendResult:
        if self.path == "asyncpg":
            return await self.store.append(stream_id, events, **options)
        async with self.store.pool.connection() as conn, conn.transaction():
            return await self.store.append_in(conn, stream_id, events, **options)

    async def append_each(self, appends: Sequence[Append]) -> list[AppendResult]:
        if self.path == "asyncpg":
            return await self.store.append_each(appends)
        async with self.store.pool.connection() as conn, conn.transaction():
            return await self.store.append_each_in(conn, appends)


@pytest.fixture(params=APPEND_PATHS)
def appender(request: pytest.FixtureRequest, store: EventStore) -> Appender:
    return Appender(store, request.param)
