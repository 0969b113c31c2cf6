"""Reads of the projected tables, whole and scoped to one prefecture (a coordinator's view)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.readmodels.queries import (
    checkpoint,
    cohort_funnel,
    iter_people,
    list_cohorts,
    participant,
    read_only,
)
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from tests.readmodels import projected

CHANGSHA, XIANGXI, NOWHERE = "430100", "433100", "990000"


@pytest.fixture(scope="module")
async def store(postgres: EmbeddedPostgres) -> AsyncIterator[EventStore]:
    async with projected(postgres, ("spring", 21), ("autumn", 22)) as store:
        yield store


async def test_cohorts_are_listed_with_counts_whole_or_for_one_prefecture(store: EventStore) -> None:
    everything = await list_cohorts(store.pool)
    assert [c.cohort_id for c in everything] == ["spring", "autumn"]
    spring = everything[0]
    summary = await cohort_summary(store, "spring")
    assert (spring.nominated, spring.selected, spring.finished, spring.withdrawn) == (
        summary.funnel["nominated"],
        summary.funnel["selected"],
        summary.funnel["completed"],
        summary.withdrawn,
    )
    assert (spring.phase, spring.phase_state, spring.completed) == ("completion", "closed", True)
    assert spring.programme_name == "国培计划·中小学党组织书记示范培训"
    mine = await list_cohorts(store.pool, CHANGSHA)
    changsha = next(p for p in summary.prefectures if p.code == CHANGSHA)
    assert [c.cohort_id for c in mine] == ["spring", "autumn"]
    assert (mine[0].nominated, mine[0].selected) == (changsha.counts["nominated"], changsha.counts["selected"])
    assert await list_cohorts(store.pool, NOWHERE) == []


async def test_a_coordinator_sees_only_their_prefecture_of_the_funnel(store: EventStore) -> None:
    whole = await cohort_funnel(store.pool, "spring")
    assert whole.projected_to == await checkpoint(store.pool) == (await store.head()).position
    assert len(whole.prefectures) == 14 and whole.prefecture is None
    scoped = await cohort_funnel(store.pool, "spring", XIANGXI)
    assert [p.code for p in scoped.prefectures] == [XIANGXI]
    assert scoped.prefectures[0].name == "湘西土家族苗族自治州"
    same_in_whole = next(p for p in whole.prefectures if p.code == XIANGXI)
    assert scoped.totals == scoped.prefectures[0].counts == same_in_whole.counts
    assert (await cohort_funnel(store.pool, "spring", NOWHERE)).totals.nominated == 0
    with pytest.raises(LookupError, match="winter"):
        await cohort_funnel(store.pool, "winter")


async def test_people_lists_stream_in_id_order_and_respect_the_scope(store: EventStore) -> None:
    nominees = [p async for p in iter_people(store.pool, "spring", "nominees")]
    selected = [p async for p in iter_people(store.pool, "spring", "selected")]
    completed = [p async for p in iter_people(store.pool, "spring", "completed")]
    funnel = (await cohort_funnel(store.pool, "spring")).totals
    assert (len(nominees), len(selected), len(completed)) == (funnel.nominated, funnel.selected, funnel.completed)
    assert [p.participant_id for p in nominees] == sorted(p.participant_id for p in nominees)
    assert all(p.selected and not p.withdrawn for p in selected)
    assert all(p.completed and p.attended_field_study and p.return_report for p in completed)
    assert sum(p.met_online_requirement for p in nominees) == funnel.met_online_requirement
    assert sum(p.attended_field_study for p in selected) == funnel.attended_field_study
    mine = [p async for p in iter_people(store.pool, "spring", "selected", CHANGSHA)]
    assert mine and mine == [p for p in selected if p.prefecture_code == CHANGSHA]


async def test_one_participant_and_the_scope_that_hides_them(store: EventStore) -> None:
    completed = [p async for p in iter_people(store.pool, "spring", "completed")]
    first = completed[0]
    row = await participant(store.pool, "spring", first.participant_id)
    assert row == first
    assert row.surveys_answered == [s for s in ("m1", "m6", "y1", "y2") if s in row.surveys_answered]  # answer order
    assert row.credit_hours > 0 and row.site is not None
    assert await participant(store.pool, "spring", first.participant_id, row.prefecture_code) == row
    other = CHANGSHA if row.prefecture_code != CHANGSHA else XIANGXI
    assert await participant(store.pool, "spring", first.participant_id, other) is None
    assert await participant(store.pool, "spring", "P999999") is None


async def test_reads_on_a_read_only_connection_answer_alike_and_leave_it_as_borrowed(store: EventStore) -> None:
    first, *_ = [p async for p in iter_people(store.pool, "spring", "completed")]
    async with read_only(store.pool) as conn:
        assert conn.autocommit
        assert await list_cohorts(conn, CHANGSHA) == await list_cohorts(store.pool, CHANGSHA)
        assert await cohort_funnel(conn, "spring", XIANGXI) == await cohort_funnel(store.pool, "spring", XIANGXI)
        assert await participant(conn, "spring", first.participant_id) == first
        assert await checkpoint(conn) == await checkpoint(store.pool)
        assert conn.info.transaction_status == TransactionStatus.IDLE  # no transaction was opened
        with pytest.raises(psycopg.errors.DivisionByZero):
            await conn.execute("SELECT 1 / 0")
        assert await (await conn.execute("SELECT 1")).fetchone() == (1,)  # nothing to roll back first
        with pytest.raises(LookupError, match="winter"):
            await cohort_funnel(conn, "winter")
    assert not conn.autocommit  # back in the pool as every other borrower expects it
    assert conn.info.transaction_status == TransactionStatus.IDLE
