"""The projector against real PostgreSQL: same answers as the in-memory fold, once and only once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cohortflow.domain.decoding import UndecodableEvent
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.readmodels.projector import PROJECTION, TABLES, Projector
from cohortflow.readmodels.queries import cohort_funnel
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from tests.readmodels import CohortWriter, write_cohort

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(store: EventStore) -> Snapshot:
    tables: Snapshot = {}
    async with store.pool.connection() as conn:
        for table in TABLES:
            rows = await (await conn.execute(f"SELECT * FROM {table}")).fetchall()
            tables[table] = sorted(rows, key=repr)
        cur = await conn.execute("SELECT projection, position FROM rm_checkpoints")
        tables["rm_checkpoints"] = await cur.fetchall()
    return tables


async def assert_matches_fold(store: EventStore, w: CohortWriter) -> None:
    """Funnel, credits and every participant row agree with cohort_summary and the domain fold."""
    summary = await cohort_summary(store, w.cohort_id)
    funnel = await cohort_funnel(store.pool, w.cohort_id)
    totals = funnel.totals.model_dump()
    assert totals.pop("withdrawn") == summary.withdrawn
    assert totals == summary.funnel
    assert [(p.code, p.name, p.counts.model_dump(exclude={"withdrawn"})) for p in funnel.prefectures] == [
        (p.code, p.name, p.counts) for p in summary.prefectures
    ]
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT level, sum(hours), count(*) FROM rm_credits WHERE cohort_id = %s GROUP BY level", (w.cohort_id,)
        )
        by_level = {level: (float(hours), n) for level, hours, n in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT participant_id, hours, deliverables, study_position, selected, waiting_list, withdrawn, site, "
            "batch, days_present, days_total, attendance_position, surveys, name, school, role, credit_hours "
            "FROM rm_participants WHERE cohort_id = %s",
            (w.cohort_id,),
        )
        rows = {r[0]: (*r[1:-1], float(r[-1])) for r in await cur.fetchall()}
    assert {k: v[0] for k, v in by_level.items()} == summary.credit_hours_by_level
    assert sum(n for _, n in by_level.values()) == summary.credit_entries
    facts = w.facts
    assert set(rows) == set(facts.participants)
    for pid, p in facts.participants.items():
        credits = sum(e.hours for e in w.ledger.entries if e.participant_id == pid)
        assert rows[pid] == (
            p.hours,
            list(p.deliverables),
            p.study_position,
            pid in facts.selected,
            pid in facts.waiting_list,
            p.withdrawn,
            p.site,
            p.batch,
            p.days_present,
            p.days_total,
            p.attendance_position,
            {code: pos for code, pos in p.surveys.items()},
            p.name,
            p.school,
            p.role,
            round(credits, 6),
        ), pid


async def test_projected_funnel_and_rows_equal_the_fold_at_every_stage(store: EventStore) -> None:
    writers = [
        await write_cohort(store, "done", seed=1),
        await write_cohort(store, "in-field", seed=2, until="field_study"),
        await write_cohort(store, "just-selected", seed=3, until="selection"),
        await write_cohort(store, "nominated", seed=4, until="nomination"),
    ]
    applied = await Projector(store).catch_up()
    assert applied == (await store.head()).position
    for w in writers:
        await assert_matches_fold(store, w)
    summary = await cohort_summary(store, "done")
    assert summary.funnel["completed"] > 0 and summary.withdrawn == 3
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT cohort_id, phase, phase_state, completed FROM rm_cohorts ORDER BY cohort_id")
        assert await cur.fetchall() == [
            ("done", "completion", "closed", True),
            ("in-field", "field_study", "closed", False),
            ("just-selected", "selection", "closed", False),
            ("nominated", "nomination", "closed", False),
        ]


async def test_catching_up_again_changes_nothing(store: EventStore) -> None:
    await write_cohort(store, "a", seed=5)
    projector = Projector(store)
    assert await projector.catch_up() > 0
    before = await snapshot(store)
    assert await projector.catch_up() == 0
    assert await snapshot(store) == before


async def test_rebuild_gives_the_rows_of_incremental_projection(store: EventStore) -> None:
    # Tiny batches, caught up after every stage: selections and reversals fall mid-batch and across batches.
    projector = Projector(store, batch_size=37)
    for i, until in enumerate(("nomination", "online_study", "selection", "field_study", "completion")):
        await write_cohort(store, f"c{i}", seed=10 + i, until=until)  # type: ignore[arg-type]
        await projector.catch_up()
    incremental = await snapshot(store)
    assert incremental["rm_checkpoints"] == [(PROJECTION, (await store.head()).position)]
    assert await Projector(store).rebuild() == (await store.head()).position
    assert await snapshot(store) == incremental


async def test_a_failing_batch_leaves_tables_and_checkpoint_as_they_were(store: EventStore) -> None:
    await write_cohort(store, "a", seed=6, until="online_study")
    projector = Projector(store)
    await projector.catch_up()
    before = await snapshot(store)
    good = NewEvent("StudyHoursRecorded", {"participant_id": "P000001", "hours": 300.0})
    broken = NewEvent("FieldAttendanceRecorded", {"participant_id": "P000001"})  # an upcaster missing
    await store.append("cohort-a", [good, broken], idempotency_key="poison")
    with pytest.raises(UndecodableEvent, match="FieldAttendanceRecorded version 1 does not match its model"):
        await projector.catch_up()
    assert await snapshot(store) == before  # not even the good event of the batch


async def test_concurrent_catch_ups_apply_every_event_exactly_once(store: EventStore, database_url: str) -> None:
    """Four workers catch up over and over while a cohort is being written, as API requests would."""
    workers = [await EventStore.connect(database_url, max_size=2) for _ in range(4)]
    writing = True
    counts: list[int] = []

    async def keep_catching_up(s: EventStore) -> None:
        projector = Projector(s, batch_size=50)
        while writing:
            counts.append(await projector.catch_up())
            await asyncio.sleep(0)
        counts.append(await projector.catch_up(wait=True))

    tasks = [asyncio.create_task(keep_catching_up(s)) for s in workers]
    try:
        await write_cohort(store, "a", seed=8)
        await write_cohort(store, "b", seed=9, until="selection")
    finally:
        writing = False
        await asyncio.gather(*tasks)
        for s in workers:
            await s.close()
    assert sum(counts) == (await store.head()).position
    assert sum(1 for c in counts if c) > 1  # more than one call did project something
    concurrent = await snapshot(store)
    await Projector(store).rebuild()
    assert await snapshot(store) == concurrent


async def test_events_after_the_checkpoint_are_picked_up(store: EventStore) -> None:
    w = await write_cohort(store, "a", seed=11, until="online_study")
    projector = Projector(store)
    await projector.catch_up()
    assert (await cohort_funnel(store.pool, "a")).totals.selected == 0
    head = (await store.head()).position
    await store.append(
        "cohort-a",
        [NewEvent("StudyHoursRecorded", {"participant_id": "P000002", "hours": 1.5})],
        idempotency_key="late",
    )
    assert await projector.catch_up() == 1
    assert await projector.checkpoint() == head + 1
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT hours FROM rm_participants WHERE cohort_id = 'a' AND participant_id = 'P000002'"
        )
        assert await cur.fetchone() == (1.5,)
    assert w.facts.participants["P000002"].hours != 1.5


async def test_awkward_codes_survive_the_trip_and_one_connection_is_enough(database_url: str) -> None:
    store = await EventStore.connect(database_url, max_size=1)  # a pool of one must not starve the projector
    try:
        await write_cohort(store, "a", seed=12, until="nomination")
        odd = 'a,"b"\\c {x} 读书'
        await store.append(
            "cohort-a",
            [
                NewEvent("OnlineStudyRecorded", {"participant_id": "P000001", "hours": 12.25, "deliverables": []}),
                NewEvent("DeliverableSubmitted", {"participant_id": "P000001", "deliverable": odd}),
                NewEvent("DeliverableSubmitted", {"participant_id": "P000001", "deliverable": "NULL"}),
                NewEvent("SurveyResponded", {"participant_id": "P000001", "survey": odd, "satisfaction": 5}),
            ],
            idempotency_key="odd",
        )
        await Projector(store).catch_up()
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT deliverables, surveys, hours FROM rm_participants WHERE participant_id = 'P000001'"
            )
            deliverables, surveys, hours = await cur.fetchone() or (None, None, None)
        head = (await store.head()).position
        assert (deliverables, surveys, hours) == ([odd, "NULL"], {odd: head}, 12.25)
    finally:
        await store.close()
