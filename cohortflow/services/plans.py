"""Starting a rotation plan, shared by the API and the CLI (through the API)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.phrases import joined, phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.rotation_plan import RotationPlan, plan_problems, plan_stream
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.services.starting import start_once
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.rotation_plan import (
    RotationPlanInput,
    RotationPlanResult,
    RotationPlanWorkflow,
    plan_workflow_id,
)


async def start_plan(
    client: Client, store: EventStore, inp: RotationPlanInput, task_queue: str
) -> WorkflowHandle[RotationPlanWorkflow, RotationPlanResult]:
    """Start ``plan-{id}``; a plan that contradicts itself, or whose cohort ids are taken, is refused first."""
    exists = CommandRefused(phrase("rotation plan {plan_id} already exists", plan_id=inp.plan.id))
    if await store.stream_version(plan_stream(inp.plan.id)) > 0:
        raise exists
    problems = [*plan_problems(inp.plan), *_programme_problems(inp.plan, inp.programme)]
    for cohort_id in inp.plan.cohort_ids:
        if await store.stream_version(cohort_stream(cohort_id)) > 0:
            problems.append(
                phrase("cohort {cohort_id}, which the plan would start, already exists", cohort_id=cohort_id)
            )
    if problems:
        raise CommandRefused(joined(problems))
    handle: WorkflowHandle[RotationPlanWorkflow, RotationPlanResult] = await start_once(
        client, RotationPlanWorkflow.run, inp, plan_workflow_id(inp.plan.id), task_queue, exists
    )
    return handle


def _programme_problems(plan: RotationPlan, programme: Programme | ProgrammeTemplate) -> list[str]:
    problems = []
    if (programme.id, programme.version) != (plan.programme_id, plan.programme_version):
        problems.append(
            phrase(
                "the plan names programme {programme_id} v{version}, not {other}",
                programme_id=plan.programme_id,
                version=plan.programme_version,
                other=programme.id,
            )
        )
    # Weekly digests run from a Schedule made when a cohort is started from the API; a plan's cohorts are
    # started by the plan's workflow, which makes none, so such a programme would silently lose its digests.
    weekly = isinstance(programme, Programme) and programme.reminders and programme.reminders.rules
    if weekly and any(rule.weekly for rule in weekly):
        problems.append(phrase("a programme with weekly coordinator digests cannot run in a rotation plan"))
    return problems
