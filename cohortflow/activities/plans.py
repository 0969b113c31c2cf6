"""Rotation plans: recording a plan's start, and finding who is already enrolled in its other cohorts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import Metadata, PlanStarted
from cohortflow.domain.rotation_plan import RotationPlan
from cohortflow.store.errors import ExpectedVersionMismatch
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent

# Nominated in one of the streams and not withdrawn from it since. The NOT EXISTS probe uses the
# events_by_participant index (stream, participant), so only the plan's cohorts' nominations are read.
_ENROLLED = """
SELECT n.data->>'person_key', n.stream_id FROM events n
WHERE n.type = 'CandidateNominated' AND n.stream_id = ANY(%s) AND n.data->>'person_key' = ANY(%s)
  AND NOT EXISTS (
    SELECT 1 FROM events w
    WHERE w.stream_id = n.stream_id AND w.type = 'ParticipantWithdrawn'
      AND coalesce(w.data->>'participant_id', '') = n.data->>'participant_id'
  )
"""


def plan_stream(plan_id: str) -> str:
    return f"plan-{plan_id}"


async def enrolled_elsewhere(
    conn: AsyncConnection[TupleRow], cohort_ids: Collection[str], person_keys: Collection[str]
) -> dict[str, str]:
    """The cohort (of ``cohort_ids``) each of ``person_keys`` is enrolled in, for those who are."""
    if not cohort_ids or not person_keys:
        return {}
    cur = await conn.execute(_ENROLLED, ([f"cohort-{c}" for c in cohort_ids], list(person_keys)))
    return {key: stream.removeprefix("cohort-") for key, stream in await cur.fetchall()}


async def plan_cohorts(store: EventStore, plan_id: str) -> list[str]:
    """The cohorts of a started plan, from its PlanStarted event."""
    start = await store.first_event(plan_stream(plan_id))
    if start is None or start.type != PlanStarted.TYPE:
        raise CommandRefused(f"rotation plan {plan_id} has not been started")
    return list(PlanStarted.model_validate(start.data).cohorts)


class RecordPlanStarted(BaseModel):
    plan: RotationPlan
    programme_digest: str
    started_at: datetime
    workflow_id: str
    actor: str


class PlanActivities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn
    @refusals_are_final
    async def record_plan_started(self, req: RecordPlanStarted) -> int:
        """Open the plan's stream; a second plan with the same id is refused."""
        plan = req.plan
        event = PlanStarted(
            plan_id=plan.id,
            name=plan.name,
            programme_id=plan.programme_id,
            programme_version=plan.programme_version,
            programme_digest=req.programme_digest,
            first_year=plan.first_year,
            cohorts=plan.cohort_ids,
            started_at=req.started_at,
        )
        metadata = Metadata(
            actor=req.actor,
            workflow_id=req.workflow_id,
            programme_id=plan.programme_id,
            programme_version=plan.programme_version,
            step="started",
            correlation_id=plan.id,
        ).model_dump()
        try:
            result = await self.store.append(
                plan_stream(plan.id),
                [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)],
                idempotency_key=f"{req.workflow_id}/started",
                expected_version=0,
            )
        except ExpectedVersionMismatch:
            raise CommandRefused(f"rotation plan {plan.id} already exists") from None
        return result.last_position
