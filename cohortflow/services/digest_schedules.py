"""Temporal Schedules for coordinators' weekly digests, one per cohort and weekly rule.

Created when the cohort starts, in the programme's time zone; a schedule that
already exists is left as it is, so starting again after a crash changes
nothing. The digest workflow deletes its schedule once the cohort has completed.
"""

from __future__ import annotations

import contextlib

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_rules import ReminderRule
from cohortflow.workflows.digests import CoordinatorDigestWorkflow, DigestInput


def schedule_id(cohort_id: str, rule: str) -> str:
    return f"digest-{cohort_id}-{rule}"


def weekly_rules(programme: Programme) -> list[ReminderRule]:
    rules = programme.reminders.rules if programme.reminders else ()
    return [r for r in rules if r.weekly is not None]


async def schedule_digests(client: Client, cohort_id: str, programme: Programme, task_queue: str) -> list[str]:
    """Create the cohort's digest schedules; returns their ids."""
    ids = []
    for rule in weekly_rules(programme):
        assert rule.weekly is not None and programme.reminders is not None
        sid = schedule_id(cohort_id, rule.code)
        at = rule.weekly.at
        spec = ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_week=[ScheduleRange(rule.weekly.weekday % 7)],  # Temporal counts Sunday as 0
                    hour=[ScheduleRange(at.hour)],
                    minute=[ScheduleRange(at.minute)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name=programme.reminders.time_zone,
        )
        action = ScheduleActionStartWorkflow(
            CoordinatorDigestWorkflow.run,
            DigestInput(cohort_id=cohort_id, rule=rule.code, schedule_id=sid),
            id=sid,
            task_queue=task_queue,
        )
        with contextlib.suppress(ScheduleAlreadyRunningError):
            await client.create_schedule(
                sid, Schedule(action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))
            )
        ids.append(sid)
    return ids
