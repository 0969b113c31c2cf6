"""The store's contract is one suite run against every path the store keeps.

Appends run on psycopg, in a transaction of the store's own (``append``, ``append_each``) or in a caller's
(``append_in``, ``append_each_in``: an outbox row and its event commit together); each test that takes
``appender`` runs once per way in. Every read of events runs on asyncpg, and the same tests check them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from cohortflow.store.eventstore import Append, EventStore
from cohortflow.store.records import AppendResult, NewEvent

APPEND_PATHS = ("own", "caller")


@dataclass(frozen=True)
class Appender:
    """Appends to ``store`` in a transaction of the store's own (``own``) or of the caller's (``caller``)."""

    store: EventStore
    path: str

    async def append(self, stream_id: str, events: Iterable[NewEvent], **options: Any) -> AppendResult:
        if self.path == "own":
            return await self.store.append(stream_id, events, **options)
        async with self.store.pool.connection() as conn, conn.transaction():
            return await self.store.append_in(conn, stream_id, events, **options)

    async def append_each(self, appends: Sequence[Append]) -> list[AppendResult]:
        if self.path == "own":
            return await self.store.append_each(appends)
        async with self.store.pool.connection() as conn, conn.transaction():
            return await self.store.append_each_in(conn, appends)


@pytest.fixture(params=APPEND_PATHS)
def appender(request: pytest.FixtureRequest, store: EventStore) -> Appender:
    return Appender(store, request.param)
