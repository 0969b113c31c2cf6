"""A rotation plan (plan-{id}): the same programme as a cohort a year, each cohort a child workflow.

The plan's state is its list of cohorts; each year's cohort is a child
``cohort-{plan}-{year}`` that runs its own cycle, so the plan holds at most a
handful of children however many people pass through them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.plans import ImportRoster, PlanActivities, PlanRef, RecordPlanStarted, RosterOutcome
    from cohortflow.domain.cycle import CommandRefused, check_recordable
    from cohortflow.domain.phrases import phrase
    from cohortflow.domain.programme import Programme
    from cohortflow.domain.rotation_plan import RotationPlan
    from cohortflow.domain.template import ProgrammeTemplate
    from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleWorkflow
    from cohortflow.workflows.cohort_cycle import (
        CohortCycleInput,
        CohortCycleResult,
        CohortCycleWorkflow,
        workflow_id,
    )
    from cohortflow.workflows.options import run_activity

YEAR_DAYS = 365


class RotationPlanInput(BaseModel):
    plan: RotationPlan
    programme: Programme | ProgrammeTemplate
    """Its yearly cohorts run the seven-phase cycle, or interpret the block template."""
    day_seconds: float = 86_400.0
    actor: str = "system:rotation-plan"


class RotationPlanResult(BaseModel):
    plan_id: str
    cohorts: list[CohortCycleResult]


class RotationPlanStatus(BaseModel):
    plan_id: str
    started: list[str] = Field(description="Cohorts started so far, in year order")
    planned: list[str]


class RosterImport(BaseModel):
    digest: str
    filename: str
    actor: str = "admin"


def plan_workflow_id(plan_id: str) -> str:
    return f"plan-{plan_id}"


@workflow.defn
class RotationPlanWorkflow:
    def __init__(self) -> None:
        self._inp: RotationPlanInput | None = None
        self._started: list[str] = []
        self._recorded = False

    @workflow.run
    async def run(self, inp: RotationPlanInput) -> RotationPlanResult:
        self._inp = inp
        started_at = workflow.now()
        await self._activity(
            PlanActivities.record_plan_started,
            RecordPlanStarted(
                ref=self._ref(inp.actor), plan=inp.plan, programme_digest=inp.programme.digest, started_at=started_at
            ),
        )
        self._recorded = True
        cohorts = []
        for year, cohort_id in enumerate(inp.plan.cohort_ids):
            opens = started_at + timedelta(seconds=year * YEAR_DAYS * inp.day_seconds)
            wait = (opens - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(wait, summary=f"cohort {cohort_id} opens")
            cohorts.append(await self._start_cohort(cohort_id))
            self._started.append(cohort_id)
        results = list(await asyncio.gather(*cohorts))
        await workflow.wait_condition(workflow.all_handlers_finished)  # a roster being added is answered first
        return RotationPlanResult(plan_id=inp.plan.id, cohorts=results)

    async def _start_cohort(self, cohort_id: str) -> workflow.ChildWorkflowHandle[Any, CohortCycleResult]:
        inp = self._input()
        if isinstance(inp.programme, ProgrammeTemplate):
            blocks = BlockCycleInput(
                cohort_id=cohort_id,
                template=inp.programme,
                day_seconds=inp.day_seconds,
                actor=inp.actor,
                plan_id=inp.plan.id,
            )
            return await workflow.start_child_workflow(BlockCycleWorkflow.run, blocks, id=workflow_id(cohort_id))
        phases = CohortCycleInput(
            cohort_id=cohort_id,
            programme=inp.programme,
            day_seconds=inp.day_seconds,
            actor=inp.actor,
            plan_id=inp.plan.id,
        )
        return await workflow.start_child_workflow(CohortCycleWorkflow.run, phases, id=workflow_id(cohort_id))

    @workflow.update
    async def import_roster(self, req: RosterImport) -> RosterOutcome:
        """Add the people of an uploaded file to the plan's roster; nominees must then be on it."""
        outcome: RosterOutcome = await self._activity(
            PlanActivities.import_roster,
            ImportRoster(
                ref=self._ref(req.actor), programme=self._input().programme, digest=req.digest, filename=req.filename
            ),
        )
        return outcome

    @import_roster.validator
    def _validate_import_roster(self, req: RosterImport) -> None:
        check_recordable(req.model_dump())
        if not self._recorded:
            raise CommandRefused(phrase("the plan is still starting"))

    def _input(self) -> RotationPlanInput:
        assert self._inp is not None
        return self._inp

    def _ref(self, actor: str) -> PlanRef:
        inp = self._input()
        return PlanRef(
            plan_id=inp.plan.id,
            workflow_id=workflow.info().workflow_id,
            actor=actor,
            programme_id=inp.programme.id,
            programme_version=inp.programme.version,
        )

    @staticmethod
    async def _activity(fn: Any, arg: BaseModel) -> Any:
        return await run_activity(fn, arg, heartbeats=False)

    @workflow.query
    def status(self) -> RotationPlanStatus:
        plan = self._input().plan
        return RotationPlanStatus(plan_id=plan.id, started=self._started, planned=plan.cohort_ids)
