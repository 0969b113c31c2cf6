"""Several keyed appends in one call: as if appended one by one, in one transaction."""

from __future__ import annotations

import pytest

from cohortflow.audit.verify import verify_store
from cohortflow.store.errors import ExpectedVersionMismatch, IdempotencyConflict
from cohortflow.store.eventstore import Append, EventStore
from tests.store.conftest import Appender
from tests.store.test_eventstore import all_events, events


async def append_each(appender: Appender, appends: list[Append]) -> list[tuple[int, int, int, bool]]:
    results = await appender.append_each(appends)
    return [(r.first_position, r.last_position, r.stream_version, r.duplicate) for r in results]


async def test_each_append_gets_its_positions_versions_and_chain(store: EventStore, appender: Appender) -> None:
    await appender.append("a", events(2), idempotency_key="before")
    results = await append_each(
        appender,
        [Append("a", events(1), "k1"), Append("b", events(2), "k2"), Append("a", events(1), "k3", expected_version=3)],
    )
    assert results == [(3, 3, 3, False), (4, 5, 2, False), (6, 6, 4, False)]
    assert [e.stream_version async for e in store.read_stream("a")] == [1, 2, 3, 4]
    assert [e.idempotency_key async for e in store.read_stream("b")] == ["k2#0", "k2#1"]
    assert (await verify_store(store)).ok


async def test_keys_used_before_or_earlier_in_the_call_append_nothing(store: EventStore, appender: Appender) -> None:
    await appender.append("a", events(1), idempotency_key="k1")
    results = await append_each(
        appender, [Append("a", events(1), "k1"), Append("a", events(2), "k2"), Append("a", events(2), "k2")]
    )
    assert results == [(1, 1, 1, True), (2, 3, 3, False), (2, 3, 3, True)]
    assert await all_events(store) == [1, 2, 3]


async def test_a_refused_item_appends_nothing_of_the_call(store: EventStore, appender: Appender) -> None:
    await appender.append("a", events(2), idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        await append_each(appender, [Append("b", events(1), "new"), Append("a", events(3), "k1")])
    with pytest.raises(ExpectedVersionMismatch):
        await append_each(appender, [Append("b", events(1), "new"), Append("a", events(1), "k9", expected_version=0)])
    with pytest.raises(ValueError, match="at least one event"):
        await append_each(appender, [Append("a", [], "empty")])
    assert await all_events(store) == [1, 2]
