"""A coordinator's weekly digest: started by a Temporal Schedule, one run per week.

Each run queues the digest for every coordinator of the cohort, keyed by the
week it was scheduled for, so a run the schedule repeats (or a retried
activity) sends nothing twice. Once the cohort has completed, the run deletes
its own schedule instead.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.base import CohortRef
    from cohortflow.activities.reminders import EndDigests, QueuedReminders, QueueReminders, ReminderActivities
    from cohortflow.domain.reminder_schedule import ReminderDue
    from cohortflow.workflows.cohort_cycle import workflow_id
    from cohortflow.workflows.options import run_activity

SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


class DigestInput(BaseModel):
    cohort_id: str
    rule: str
    schedule_id: str
    actor: str = "system:digest-schedule"


def digest_occurrence(scheduled: datetime) -> str:
    return f"week-of-{scheduled:%Y-%m-%d}"


@workflow.defn
class CoordinatorDigestWorkflow:
    @workflow.run
    async def run(self, inp: DigestInput) -> QueuedReminders:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
        ref = CohortRef(cohort_id=inp.cohort_id, workflow_id=workflow_id(inp.cohort_id), actor=inp.actor)
        due = ReminderDue(rule=inp.rule, occurrence=digest_occurrence(scheduled), at=scheduled, days=0)
        result: QueuedReminders = await run_activity(
            ReminderActivities.queue_reminders, QueueReminders(ref=ref, due=due)
        )
        if result.cohort_completed:
            await run_activity(
                ReminderActivities.end_digests, EndDigests(schedule_id=inp.schedule_id), heartbeats=False
            )
        return result
