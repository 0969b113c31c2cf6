"""Cohort-level records: the cohort starting, phases opening and closing, extensions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.decoding import event_type
from cohortflow.domain.events import CohortStarted
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.store.errors import ExpectedVersionMismatch


class RecordCohortStarted(BaseModel):
    ref: CohortRef
    programme: Programme
    started_at: datetime
    day_seconds: float


class RecordCycleEvent(BaseModel):
    ref: CohortRef
    step: str
    type: str
    data: dict[str, Any]


class CycleRecordActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def record_cohort_started(self, req: RecordCohortStarted) -> int:
        """Open the cohort's stream; a second cohort with the same id is refused."""
        event = CohortStarted(
            cohort_id=req.ref.cohort_id,
            programme_id=req.programme.id,
            programme_version=req.programme.version,
            programme_digest=req.programme.digest,
            programme=req.programme.template(),
            started_at=req.started_at,
            day_seconds=req.day_seconds,
        )
        try:
            result = await self.append(req.ref, "started", [event], programme=req.programme, expected_version=0)
        except ExpectedVersionMismatch:
            raise CommandRefused(phrase("cohort {cohort_id} already exists", cohort_id=req.ref.cohort_id)) from None
        return result.last_position

    @activity.defn
    @refusals_are_final
    async def record_cycle_event(self, req: RecordCycleEvent) -> int:
        event = event_type(req.type).model_validate(req.data)
        result = await self.append(req.ref, req.step, [event], programme=await self.pinned(req.ref))
        return result.last_position
