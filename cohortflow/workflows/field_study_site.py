"""One field-study site (e.g. 长沙): its batches run one after another on timers.

A child workflow per site, never per participant: a site has its own timeline
(batch start and end dates) while the participants are handled in batches.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.base import CohortRef
    from cohortflow.activities.field_study import BatchResult, FieldStudyActivities, RecordBatchAttendance
    from cohortflow.domain.blocks.residential_study import Site
    from cohortflow.workflows.options import run_activity


class FieldStudySiteInput(BaseModel):
    ref: CohortRef
    site: Site
    opened_at: datetime
    day_seconds: float


class FieldStudySiteResult(BaseModel):
    site: str
    batches: list[BatchResult]


@workflow.defn
class FieldStudySiteWorkflow:
    @workflow.run
    async def run(self, inp: FieldStudySiteInput) -> FieldStudySiteResult:
        results = []
        for batch in inp.site.batches:
            ends_at = inp.opened_at + timedelta(seconds=(batch.start_day + batch.days) * inp.day_seconds)
            wait = (ends_at - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(wait, summary=f"batch {batch.code} runs until {ends_at.isoformat()}")
            result = await run_activity(
                FieldStudyActivities.record_batch_attendance,
                RecordBatchAttendance(ref=inp.ref, site=inp.site.code, batch=batch.code, days=batch.days),
            )
            results.append(result)
        return FieldStudySiteResult(site=inp.site.code, batches=results)
