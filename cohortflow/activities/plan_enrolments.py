"""Who a rotation plan's cohorts have enrolled and who its roster lists, read from the event store.

A nominee import into one of the plan's cohorts asks these a chunk of rows at a
time; the plan's status counts its roster against them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydantic import BaseModel, Field

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import PlanStarted
from cohortflow.domain.phrases import phrase
from cohortflow.domain.rotation_plan import plan_stream
from cohortflow.store.eventstore import EventStore

# Nominated in one of the streams and not withdrawn from it since. The NOT EXISTS probe uses the
# events_by_participant index (stream, participant), so only the plan's cohorts' nominations are read.
_ENROLLED = """
SELECT n.data->>'person_key' AS key, n.stream_id FROM events n
WHERE n.type = 'CandidateNominated' AND n.stream_id = ANY(%(cohorts)s)
  AND NOT EXISTS (
    SELECT 1 FROM events w
    WHERE w.stream_id = n.stream_id AND w.type = 'ParticipantWithdrawn'
      AND coalesce(w.data->>'participant_id', '') = n.data->>'participant_id'
  )
"""
_ROSTER = "SELECT data->>'person_key' AS key FROM events WHERE stream_id = %(plan)s AND type = 'RosterEntered'"
_COVERAGE = f"""
WITH enrolled AS (SELECT DISTINCT key FROM ({_ENROLLED}) e), roster AS ({_ROSTER})
SELECT (SELECT count(*) FROM roster), (SELECT count(*) FROM enrolled),
       (SELECT count(*) FROM roster r WHERE NOT EXISTS (SELECT 1 FROM enrolled e WHERE e.key = r.key))
"""


def _streams(cohort_ids: Collection[str]) -> list[str]:
    return [cohort_stream(c) for c in cohort_ids]


async def roster_keys(
    conn: AsyncConnection[TupleRow], plan_id: str, person_keys: Collection[str] | None = None
) -> set[str]:
    """The people on the plan's roster; with ``person_keys``, only those of them it lists."""
    if person_keys is None:
        cur = await conn.execute(_ROSTER, {"plan": plan_stream(plan_id)})
    elif not person_keys:
        return set()
    else:
        query = f"SELECT key FROM ({_ROSTER}) r WHERE key = ANY(%(keys)s)"
        cur = await conn.execute(query, {"plan": plan_stream(plan_id), "keys": list(person_keys)})
    return {key for (key,) in await cur.fetchall()}


async def enrolled_elsewhere(
    conn: AsyncConnection[TupleRow], cohort_ids: Collection[str], person_keys: Collection[str]
) -> dict[str, str]:
    """The cohort (of ``cohort_ids``) each of ``person_keys`` is enrolled in, for those who are."""
    if not cohort_ids or not person_keys:
        return {}
    query = f"SELECT key, stream_id FROM ({_ENROLLED}) e WHERE key = ANY(%(keys)s)"
    cur = await conn.execute(query, {"cohorts": _streams(cohort_ids), "keys": list(person_keys)})
    return {key: stream.removeprefix("cohort-") for key, stream in await cur.fetchall()}


class PlanCoverage(BaseModel):
    roster: int = Field(description="People on the roster (0: the plan has none)")
    enrolled: int = Field(description="People enrolled in one of the plan's cohorts, withdrawals not counted")
    not_yet_enrolled: int = Field(description="People on the roster not enrolled in any of its cohorts yet")


async def plan_coverage(store: EventStore, plan_id: str, cohort_ids: Collection[str]) -> PlanCoverage:
    async with store.pool.connection() as conn:
        cur = await conn.execute(_COVERAGE, {"cohorts": _streams(cohort_ids), "plan": plan_stream(plan_id)})
        row = await cur.fetchone()
    assert row is not None
    return PlanCoverage(roster=row[0], enrolled=row[1], not_yet_enrolled=row[2])


@dataclass(frozen=True)
class PlanNominations:
    """What nominees of one of a plan's cohorts are checked against: its other cohorts and its roster."""

    plan_id: str
    other_cohorts: list[str]
    roster: bool

    async def lookup(
        self, conn: AsyncConnection[TupleRow], person_keys: Collection[str]
    ) -> tuple[dict[str, str], set[str] | None]:
        """The other cohort each person is enrolled in; who of them the roster lists (None: no roster)."""
        enrolled = await enrolled_elsewhere(conn, self.other_cohorts, person_keys)
        listed = await roster_keys(conn, self.plan_id, person_keys) if self.roster else None
        return enrolled, listed


async def plan_nominations(store: EventStore, plan_id: str, cohort_id: str) -> PlanNominations:
    """What a nominee import into ``cohort_id``, one of the plan's cohorts, checks its rows against."""
    start = await store.first_event(plan_stream(plan_id))
    if start is None or start.type != PlanStarted.TYPE:
        raise CommandRefused(phrase("rotation plan {plan_id} has not been started", plan_id=plan_id))
    others = [c for c in PlanStarted.model_validate(start.data).cohorts if c != cohort_id]
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT EXISTS ({_ROSTER})",
            {"plan": plan_stream(plan_id)},
        )
        row = await cur.fetchone()
    return PlanNominations(plan_id, others, bool(row and row[0]))
