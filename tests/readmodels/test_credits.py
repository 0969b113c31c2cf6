"""Credit statements across cohorts: totals, reversals and the five-year cycles, at their boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.canonical import canonical_json
from cohortflow.domain.events import CandidateNominated, CohortStarted, CreditAwarded, CreditReversed, Event
from cohortflow.readmodels.credits import Cycle, credit_statement, cycle_of, iter_credit_rows
from cohortflow.readmodels.projector import Projector
from cohortflow.store.chain import chain_hash, record_bytes, timestamp_text
from cohortflow.store.eventstore import EventStore
from tests.readmodels import write_cohort

KEY, OTHER = "key-of-zhang-wei", "key-of-someone-else"


async def append_dated(store: EventStore, stream: str, events: list[tuple[Event, datetime]]) -> None:
    """Append events recorded at chosen moments, as restoring a bundle would (a valid chain all the same)."""
    head = await store.head()
    position, prev, version = head.position, head.hash, await store.stream_version(stream)
    metadata = canonical_json({"actor": "admin:test"})
    rows = []
    for event, at in events:
        position += 1
        version += 1
        data = canonical_json(event.payload())
        key = f"dated/{position}#0"
        record = record_bytes(
            position=position,
            stream_id=stream,
            stream_version=version,
            type=event.TYPE,
            schema_version=1,
            data_json=data,
            metadata_json=metadata,
            recorded_at=timestamp_text(at),
            idempotency_key=key,
        )
        digest = chain_hash(prev, record)
        rows.append((position, stream, version, event.TYPE, 1, data, metadata, at, key, prev, digest))
        prev = digest
    await store.copy_rows(rows)


def started(cohort_id: str) -> Event:
    programme = sample_programme(140, 30)
    return CohortStarted(
        cohort_id=cohort_id,
        programme_id=programme.id,
        programme_version=1,
        programme_digest=programme.digest,
        programme=programme.model_dump(mode="json"),
        started_at=datetime(2025, 1, 1, tzinfo=UTC),
        day_seconds=86400,
    )


def nominated(person_key: str) -> Event:
    return CandidateNominated(
        participant_id="P000001",
        person_key=person_key,
        name="张伟",
        national_id="11010519491231002X",
        gender="M",
        prefecture_code="430100",
        school="长沙东区第一中学",
        role="校长",
    )


def award(entry: str, phase: str, hours: float, level: str, person_key: str = KEY) -> Event:
    return CreditAwarded.model_validate(
        {
            "entry_id": entry,
            "participant_id": "P000001",
            "person_key": person_key,
            "phase": phase,
            "hours": hours,
            "level": level,
            "earned_by": [2],
        }
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_cycles_are_blocks_of_five_calendar_years_from_the_anchor() -> None:
    assert cycle_of(date(2021, 1, 1)) == cycle_of(date(2025, 12, 31)) == Cycle(first_year=2021, last_year=2025)
    assert cycle_of(date(2026, 1, 1)) == Cycle(first_year=2026, last_year=2030)
    assert cycle_of(date(2020, 12, 31)) == Cycle(first_year=2016, last_year=2020)
    assert cycle_of(date(2026, 1, 1), anchor=2024) == Cycle(first_year=2024, last_year=2028)


async def test_statement_counts_each_entry_in_its_cycle_and_reversals_in_the_cancelled_ones(store: EventStore) -> None:
    await append_dated(
        store,
        "cohort-past",
        [
            (started("past"), at("2025-01-01T00:00:00")),
            (nominated(KEY), at("2025-01-02T00:00:00")),
            (award("e1", "online_study", 50, "province"), at("2025-12-31T15:00:00")),  # 23:00 in Beijing: 2025
            (award("e2", "field_study", 60, "province"), at("2025-12-31T16:30:00")),  # 00:30 in Beijing: 2026
            (
                CreditReversed(
                    entry_id="e1/r", reverses="e1", participant_id="P000001", person_key=KEY, hours=-50, reason="重复"
                ),
                at("2026-03-01T00:00:00"),
            ),
            (award("e4", "return_to_post", 20, "city"), at("2026-04-01T00:00:00")),
        ],
    )
    await append_dated(
        store,
        "cohort-later",
        [
            (started("later"), at("2027-01-01T00:00:00")),
            (nominated(KEY), at("2027-01-01T00:00:00")),
            (award("P000001/completion", "completion", 300, "school"), at("2027-06-01T00:00:00")),
            (award("P000001/online_study", "online_study", 50, "province", OTHER), at("2027-06-01T00:00:00")),
        ],
    )
    await Projector(store).catch_up()

    now = await credit_statement(store.pool, KEY, today=date(2026, 6, 1))
    assert [(e.cohort_id, e.entry_id) for e in now.entries] == [
        ("past", "e1"),
        ("past", "e2"),
        ("past", "e1/r"),
        ("past", "e4"),
        ("later", "P000001/completion"),
    ]
    e1, e2, reversal = now.entries[:3]
    assert (e1.reversed_by, e1.counts_in) == ("e1/r", Cycle(first_year=2021, last_year=2025))
    assert e2.counts_in == Cycle(first_year=2026, last_year=2030)
    assert (reversal.reverses, reversal.level, reversal.phase) == ("e1", "province", "online_study")
    assert reversal.hours == -50
    assert reversal.counts_in == e1.counts_in and reversal.earned_by == [] and e1.earned_by == [2]
    assert now.entries[-1].programme_id == "guopei-party-secretary"
    assert now.total_hours == 380
    assert now.totals_by_level == {"city": 20, "province": 60, "school": 300}
    assert now.current_cycle.model_dump() == {
        "cycle": {"first_year": 2026, "last_year": 2030},
        "hours": 380,
        "requirement_hours": 360,
        "remaining_hours": 0,
        "met": True,
    }

    before = await credit_statement(store.pool, KEY, today=date(2025, 7, 1))
    last = before.current_cycle
    assert (last.cycle.first_year, last.hours, last.remaining_hours, last.met) == (2021, 0, 360, False)
    stricter = await credit_statement(store.pool, KEY, today=date(2026, 6, 1), requirement_hours=400)
    assert (stricter.current_cycle.remaining_hours, stricter.current_cycle.met) == (20, False)
    shifted = await credit_statement(store.pool, KEY, today=date(2026, 6, 1), anchor_year=2024)
    assert shifted.current_cycle.cycle == Cycle(first_year=2024, last_year=2028) and shifted.current_cycle.hours == 380
    assert (await credit_statement(store.pool, KEY, today=date(2031, 1, 1))).current_cycle.hours == 0
    nobody = await credit_statement(store.pool, "unknown", today=date(2026, 6, 1))
    assert nobody.entries == [] and nobody.total_hours == 0 and nobody.current_cycle.remaining_hours == 360


async def test_a_person_in_two_cohorts_gets_one_statement_with_both(store: EventStore) -> None:
    spring = await write_cohort(store, "spring", seed=41)
    autumn = await write_cohort(store, "autumn", seed=41)  # the same sample people
    await Projector(store).catch_up()
    key = next(
        e.person_key
        for e in spring.ledger.entries
        if e.phase == "completion" and any(a.person_key == e.person_key for a in autumn.ledger.entries)
    )
    statement = await credit_statement(store.pool, key, today=datetime.now(UTC).date())
    assert {e.cohort_id for e in statement.entries} == {"spring", "autumn"}
    expected = spring.ledger.total(key) + autumn.ledger.total(key)
    assert statement.total_hours == pytest.approx(expected) == statement.current_cycle.hours
    by_level: dict[str, float] = {}
    for ledger in (spring.ledger, autumn.ledger):
        for level, hours in ledger.total_by_level(key).items():
            by_level[level] = by_level.get(level, 0) + hours
    assert statement.totals_by_level == by_level
    positions = [e.position for e in statement.entries]
    assert positions == sorted(positions) and all(e.earned_by for e in statement.entries if e.reverses is None)

    rows = [r async for r in iter_credit_rows(store.pool, "spring")]
    assert [r.entry_id for r in rows] == [e.entry_id for e in spring.ledger.entries]
    assert all(r.name and r.national_id for r in rows)
    mine = [r async for r in iter_credit_rows(store.pool, "spring", "430100")]
    assert mine and mine == [r for r in rows if r.prefecture_code == "430100"]
