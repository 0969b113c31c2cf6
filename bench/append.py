"""(c) Bulk append with hash chaining (EventStore.append) against a raw COPY of the same rows.

Both sides write the same events, in the same batches, through the same driver
(psycopg, which the store appends with) into identically indexed tables of one
database: ``events`` through the store (idempotency check, version check,
canonical JSON, SHA-256 chain, advisory lock) and ``events_raw`` with the store's
rows precomputed (:func:`raw_rows`: its idempotency keys, dummy hashes), both in
COPY's binary format. The two sides alternate batch by batch, so a busy moment on
the shared machine hits both alike, and each timed call starts after a garbage
collection (:mod:`bench.settle`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.events import batches, nomination_events
from bench.settle import start_clock
from bench.turns import in_turn
from cohortflow.domain.canonical import canonical_json
from cohortflow.store.eventstore import EventStore, libpq_url
from cohortflow.store.records import NewEvent
from cohortflow.store.wire import COPY_TYPES, EVENT_COLUMNS

STREAM = "cohort-bench-append"
DUMMY_HASH = "0" * 64


@dataclass(frozen=True)
class BulkAppendResult:
    events: int
    batch_size: int
    store_seconds: float
    raw_seconds: float

    @property
    def store_rate(self) -> float:
        return self.events / self.store_seconds

    @property
    def raw_rate(self) -> float:
        return self.events / self.raw_seconds

    @property
    def ratio(self) -> float:
        """The store's rate as a fraction of raw COPY's."""
        return self.store_rate / self.raw_rate


@dataclass(frozen=True)
class StoreThroughput:
    """cohortflow's own append of ``events`` events and one replay of them all, for the library comparison."""

    events: int
    append_seconds: float
    replay_seconds: float

    @property
    def append_rate(self) -> float:
        return self.events / self.append_seconds

    @property
    def replay_rate(self) -> float:
        return self.events / self.replay_seconds


def raw_rows(
    events: Sequence[NewEvent], first_position: int, stream_id: str, idempotency_key: str
) -> list[tuple[Any, ...]]:
    """The rows the store writes for an append of ``events`` to ``stream_id`` under ``idempotency_key`` (each
    event's key is the append's with ``#i``, as the store makes it), JSON text precomputed, hashes left dummy (of the
    same length): every column the same size as the store's, for the indexes to maintain."""
    recorded_at = datetime.now(UTC)
    return [
        (
            first_position + i,
            stream_id,
            first_position + i,
            e.type,
            e.schema_version,
            canonical_json(e.data),
            canonical_json(e.metadata),
            recorded_at,
            f"{idempotency_key}#{i}",
            DUMMY_HASH,
            DUMMY_HASH,
        )
        for i, e in enumerate(events)
    ]


async def _raw_copy(conn: psycopg.AsyncConnection[Any], rows: Sequence[tuple[Any, ...]]) -> None:
    sql = f"COPY events_raw ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    async with conn.transaction(), conn.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(list(COPY_TYPES))
        for row in rows:
            await copy.write_row(row)


async def bench_bulk_append(
    database_url: str, total: int, batch_size: int, say: Callable[[str], None]
) -> BulkAppendResult:
    store = await EventStore.connect(database_url)
    raw = await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True)
    try:
        await raw.execute("CREATE TABLE events_raw (LIKE events INCLUDING ALL)")
        store_seconds = raw_seconds = 0.0
        for n, (first, count) in enumerate(batches(total, batch_size)):
            events, key = nomination_events(first, count), f"bench-append/{first}"
            rows = raw_rows(events, first, STREAM, key)

            async def timed_store(events: list[NewEvent] = events, key: str = key) -> float:
                started = start_clock()
                await store.append(STREAM, events, idempotency_key=key)
                return time.perf_counter() - started

            async def timed_raw(rows: list[tuple[Any, ...]] = rows) -> float:
                started = start_clock()
                await _raw_copy(raw, rows)
                return time.perf_counter() - started

            store_took, raw_took = await in_turn(n, timed_store, timed_raw)
            store_seconds += store_took
            raw_seconds += raw_took
            done = first + count - 1
            if n % 5 == 4 or done == total:
                say(f"  bulk append: {done:,}/{total:,} events each side")
        return BulkAppendResult(total, batch_size, store_seconds, raw_seconds)
    finally:
        await raw.close()
        await store.close()


class StoreSide:
    """cohortflow's side of the library comparison (bench.library_compare): one batch appended, or the whole log
    replayed, per call, each call timed."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    @classmethod
    async def open(cls, database_url: str) -> StoreSide:
        return cls(await EventStore.connect(database_url))

    async def append(self, first: int, count: int) -> float:
        events = nomination_events(first, count)
        started = start_clock()
        await self._store.append(STREAM, events, idempotency_key=f"bench-compare/{first}")
        return time.perf_counter() - started

    async def replay(self, expected: int) -> float:
        """Read every event back in order. The statistics the last appends set out to measure (EventStore.grew)
        are measured first, so the replay shares the server with nothing the library's side does not have."""
        await self._store.measured()
        started = start_clock()
        replayed = 0
        async for _ in self._store.read_all():
            replayed += 1
        seconds = time.perf_counter() - started
        if replayed != expected:
            raise RuntimeError(f"read_all returned {replayed} events, {expected} were appended")
        return seconds

    async def close(self) -> None:
        await self._store.close()
