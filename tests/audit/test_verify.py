"""Every kind of tampering is caught and located, against real PostgreSQL with the guard bypassed."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from cohortflow.audit.journal import AUDIT_STREAM, record_verification
from cohortflow.audit.verify import ExportedDigest, ForeignDigest, export_digest, verify_cohort, verify_store
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def fill(store: EventStore) -> ExportedDigest:
    """Twelve events, alternating between two cohorts; returns the digest an auditor exported."""
    for i in range(6):
        for cohort in ("a", "b"):
            data = {"participant_id": f"P{i}", "hours": 100 + i, "名字": "李娜"}
            await store.append(
                f"cohort-{cohort}", [NewEvent("OnlineStudyRecorded", data)], idempotency_key=f"{cohort}{i}"
            )
    return await export_digest(store, NOW)


async def test_an_untouched_store_verifies_against_its_digest(store: EventStore) -> None:
    digest = await fill(store)
    report = await verify_store(store, digest)
    assert report.ok and report.checked == 12 and report.head_position == 12 and report.head_hash == digest.hash
    assert (await verify_cohort(store, "a", digest)).ok


async def test_a_changed_byte_is_located(store: EventStore, superuser: psycopg.Connection) -> None:
    digest = await fill(store)
    superuser.execute("UPDATE events SET data = replace(data::text, '李娜', '李妍')::json WHERE position = 5")
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(5, "changed")]
    cohort = await verify_cohort(store, "a")
    assert [(b.position, b.kind) for b in cohort.breaks] == [(5, "changed")]
    assert (await verify_cohort(store, "b")).ok


@pytest.mark.parametrize(
    "text",
    ['{"hours": 1e999}', "[" * 5000 + "]" * 5000],
    ids=["a number canonical JSON cannot hold", "nesting deeper than a decoder goes"],
)
async def test_text_no_event_was_written_as_is_a_change_not_a_crash(
    store: EventStore, superuser: psycopg.Connection, text: str
) -> None:
    digest = await fill(store)
    superuser.execute("UPDATE events SET data = %s::json WHERE position = 5", (text,))
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(5, "changed")]


async def test_a_deleted_event_is_located(store: EventStore, superuser: psycopg.Connection) -> None:
    digest = await fill(store)
    superuser.execute("DELETE FROM events WHERE position = 4")
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(4, "missing")]
    cohort = await verify_cohort(store, "b")  # position 4 was cohort b's second event
    assert cohort.first_break is not None and cohort.first_break.kind == "missing"


async def test_two_swapped_events_are_located(store: EventStore, superuser: psycopg.Connection) -> None:
    digest = await fill(store)
    superuser.execute("UPDATE events SET position = 1000 WHERE position = 6")
    superuser.execute("UPDATE events SET position = 6 WHERE position = 7")
    superuser.execute("UPDATE events SET position = 7 WHERE position = 1000")
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(6, "reordered"), (7, "reordered")]
    assert "recorded at position 7" in report.breaks[0].detail


async def test_a_truncated_tail_is_caught_only_with_the_digest(
    store: EventStore, superuser: psycopg.Connection
) -> None:
    digest = await fill(store)
    superuser.execute("DELETE FROM events WHERE position > 9")
    assert (await verify_store(store)).ok  # what is left is self-consistent
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(10, "truncated")]


async def test_verifying_a_broken_chain_records_nothing_and_names_the_same_break_every_time(
    store: EventStore, superuser: psycopg.Connection
) -> None:
    digest = await fill(store)
    superuser.execute("DELETE FROM events WHERE position > 9")
    for _ in range(3):
        report = await verify_store(store, digest)
        await record_verification(store, "auditor:wang", {"cohort": ""}, report)
        assert [(b.position, b.kind) for b in report.breaks] == [(10, "truncated")]
    assert (await store.head()).position == 9
    intact = await verify_store(store)
    await record_verification(store, "auditor:wang", {"cohort": ""}, intact)
    journal = [e async for e in store.read_stream(AUDIT_STREAM)]
    assert [(e.data["query"], e.data["outcome"]) for e in journal] == [("verify", "intact")]


async def test_a_rewritten_store_with_a_fresh_chain_is_caught(store: EventStore, superuser: psycopg.Connection) -> None:
    digest = await fill(store)
    superuser.execute("DELETE FROM events")
    for i in range(12):
        await store.append("cohort-a", [NewEvent("OnlineStudyRecorded", {"hours": 999})], idempotency_key=f"f{i}")
    assert (await verify_store(store)).ok
    report = await verify_store(store, digest)
    assert [(b.position, b.kind) for b in report.breaks] == [(12, "rewritten")]


async def test_a_digest_from_another_store_is_refused(store: EventStore) -> None:
    digest = await fill(store)
    foreign = digest.model_copy(update={"store_id": "00000000-0000-0000-0000-000000000000"})
    with pytest.raises(ForeignDigest, match="exported from store 00000000"):
        await verify_store(store, foreign)
    with pytest.raises(LookupError, match="cohort nope does not exist"):
        await verify_cohort(store, "nope")
