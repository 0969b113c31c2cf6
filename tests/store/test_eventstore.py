"""The event store against real PostgreSQL: versions, idempotency, ordering, tamper evidence."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from cohortflow.audit.verify import verify_store
from cohortflow.store.chain import GENESIS
from cohortflow.store.errors import ExpectedVersionMismatch, IdempotencyConflict, UnstorableText
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from tests.store.conftest import APPEND_PATHS, Appender


def events(n: int, kind: str = "Thing", **extra: object) -> list[NewEvent]:
    return [NewEvent(kind, {"i": i, "名字": "张伟", "hours": 146.5, **extra}, {"actor": "test"}) for i in range(n)]


async def all_events(store: EventStore) -> list[int]:
    return [e.position async for e in store.read_all()]


async def test_append_assigns_versions_and_positions_and_reads_back(store: EventStore, appender: Appender) -> None:
    first = await appender.append("s-1", events(3), idempotency_key="k1", expected_version=0)
    second = await appender.append("s-2", events(2), idempotency_key="k2")
    third = await appender.append("s-1", events(1), idempotency_key="k3", expected_version=3)
    assert (first.first_position, first.last_position, first.stream_version) == (1, 3, 3)
    assert (second.first_position, second.last_position, second.stream_version) == (4, 5, 2)
    assert (third.first_position, third.stream_version) == (6, 4)
    stream = [e async for e in store.read_stream("s-1")]
    assert [e.stream_version for e in stream] == [1, 2, 3, 4]
    assert [e.position for e in stream] == [1, 2, 3, 6]
    assert stream[0].data == {"i": 0, "名字": "张伟", "hours": 146.5}
    assert stream[0].metadata == {"actor": "test"}
    assert stream[0].prev_hash == GENESIS
    assert stream[1].prev_hash == stream[0].hash
    assert [e.position async for e in store.read_all(after_position=4)] == [5, 6]
    assert [e.position async for e in store.read_all(after_position=1, limit=2)] == [2, 3]
    assert [e.stream_version async for e in store.read_stream("s-1", types=["Thing"], after_version=2)] == [3, 4]


async def test_expected_version_conflict_appends_nothing(store: EventStore, appender: Appender) -> None:
    await appender.append("s", events(2), idempotency_key="a", expected_version=0)
    with pytest.raises(ExpectedVersionMismatch) as err:
        await appender.append("s", events(1), idempotency_key="b", expected_version=1)
    assert (err.value.expected, err.value.actual) == (1, 2)
    with pytest.raises(ExpectedVersionMismatch):
        await appender.append("s", events(1), idempotency_key="c", expected_version=0)
    assert await all_events(store) == [1, 2]


async def test_retried_append_with_same_key_appends_nothing_twice(store: EventStore, appender: Appender) -> None:
    batch = events(1000)
    first = await appender.append("cohort-x", batch, idempotency_key="cohort-x/nomination/import", expected_version=0)
    await appender.append("other", events(1), idempotency_key="other/1")
    retry = await appender.append("cohort-x", batch, idempotency_key="cohort-x/nomination/import", expected_version=0)
    assert not first.duplicate and retry.duplicate
    assert (retry.first_position, retry.last_position, retry.stream_version) == (1, 1000, 1000)
    assert len(await all_events(store)) == 1001


async def test_reusing_a_key_for_a_different_batch_is_refused(store: EventStore, appender: Appender) -> None:
    await appender.append("s", events(3), idempotency_key="step")
    with pytest.raises(IdempotencyConflict, match="step"):
        await appender.append("s", events(5), idempotency_key="step")
    assert len(await all_events(store)) == 3


async def test_bad_appends_are_refused(store: EventStore, appender: Appender) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        await appender.append("s", [], idempotency_key="k")
    with pytest.raises(ValueError, match="idempotency key"):
        await appender.append("s", events(1), idempotency_key="")
    with pytest.raises(ValueError, match="NaN"):
        await appender.append("s", [NewEvent("T", {"x": float("nan")})], idempotency_key="k")
    assert await all_events(store) == []


@pytest.mark.parametrize("path", APPEND_PATHS)
async def test_tailing_reader_misses_nothing_under_concurrent_writers(database_url: str, path: str) -> None:
    writers = [await EventStore.connect(database_url, max_size=2) for _ in range(4)]
    reader = await EventStore.connect(database_url, max_size=1)
    batches = 25
    expected_total = len(writers) * batches * 5
    seen: list[int] = []
    done = asyncio.Event()

    async def write(w: int, s: EventStore) -> None:
        for b in range(batches):
            await Appender(s, path).append(f"w{w}", events(5), idempotency_key=f"w{w}/{b}")
            await asyncio.sleep(0)

    async def tail() -> None:
        last = 0
        while True:
            finished = done.is_set()
            async for e in reader.read_all(after_position=last):
                seen.append(e.position)
                last = e.position
            if finished:
                return
            await asyncio.sleep(0.001)

    tailer = asyncio.create_task(tail())
    await asyncio.gather(*(write(w, s) for w, s in enumerate(writers)))
    done.set()
    await tailer
    assert seen == list(range(1, expected_total + 1))
    assert (await verify_store(reader)).ok  # the writers' links hold across their interleaving
    for s in [*writers, reader]:
        await s.close()


async def test_database_refuses_update_delete_truncate(
    store: EventStore, appender: Appender, database_url: str
) -> None:
    await appender.append("s", events(2), idempotency_key="k")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for sql in (
            "UPDATE events SET data = '{}' WHERE position = 1",
            "DELETE FROM events WHERE position = 2",
            "TRUNCATE events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(sql)
    assert await all_events(store) == [1, 2]


async def test_recorded_returns_exactly_the_batch_appended_under_a_key(store: EventStore, appender: Appender) -> None:
    await appender.append("s", events(3), idempotency_key="a")
    await appender.append("s", events(4), idempotency_key="a/b")  # a key that starts like "a" but is another step
    await appender.append("t", events(2), idempotency_key="c")
    assert await store.recorded("missing") is None
    batch = await store.recorded("a")
    assert batch is not None and [e.position for e in batch] == [1, 2, 3]
    last = await store.recorded("c")
    assert last is not None and [e.position for e in last] == [8, 9]


async def test_payloads_of_some_types_are_read_in_stream_order_across_pages(
    store: EventStore, appender: Appender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cohortflow.store.eventstore.READ_BATCH", 4)
    await appender.append("s", [NewEvent("A" if i % 3 else "B", {"i": i}) for i in range(20)], idempotency_key="k")
    await appender.append("other", events(3, kind="A"), idempotency_key="o")
    got = [(p.type, p.data["i"]) async for p in store.read_payloads("s", ["A"])]
    assert got == [("A", i) for i in range(20) if i % 3]


async def test_text_postgresql_cannot_store_is_refused_before_writing(store: EventStore, appender: Appender) -> None:
    with pytest.raises(UnstorableText, match="U\\+0000"):
        await appender.append("s", [NewEvent("T", {"x": "a\x00b"})], idempotency_key="nul")
    assert (await store.head()).position == 0


async def test_a_bulk_append_brings_the_planner_statistics_up_to_date(store: EventStore) -> None:
    async def measured_rows() -> float:
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
            row = await cur.fetchone()
            assert row is not None
            return float(row[0])

    await store.append("small", events(10), idempotency_key="small")
    await store.measured()
    assert await measured_rows() < 10  # too small to look at: left to autovacuum
    await store.append("bulk", events(1500), idempotency_key="bulk")
    await store.measured()
    assert await measured_rows() == 1510
    await store.append("bulk", events(1500), idempotency_key="bulk")  # a retry appends nothing, measures nothing
    await store.append("more", events(1200), idempotency_key="more")
    await store.measured()
    assert await measured_rows() == 2710


async def test_values_the_fast_json_reader_refuses_are_read_back_as_written(
    store: EventStore, appender: Appender
) -> None:
    data = {"beyond_64_bits": 2**70, "below": -(2**64), "hours": 0.1}
    await appender.append("s", [NewEvent("T", data)], idempotency_key="k")
    assert [e.data async for e in store.read_all()] == [data]
    assert [e.data async for e in store.read_stream("s")] == [data]


async def test_a_lone_surrogate_is_refused_before_writing(store: EventStore, appender: Appender) -> None:
    with pytest.raises(UnstorableText, match="event 1 \\(T\\) contains a lone surrogate"):
        await appender.append("s", [NewEvent("T", {"x": "ok"}), NewEvent("T", {"x": "a\ud800b"})], idempotency_key="s")
    assert (await store.head()).position == 0
