"""/api/v1/plans: rotation plans, one cohort of the same programme a year, nobody enrolled twice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from temporalio.client import Client

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities.plan_enrolments import PlanCoverage, plan_coverage
from cohortflow.activities.plans import RosterOutcome
from cohortflow.api.auth import require
from cohortflow.api.cohorts import COHORT_ID
from cohortflow.api.commands import send
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept, Idempotent
from cohortflow.api.problems import answers
from cohortflow.api.text import Code, Reason
from cohortflow.api.uploads import UPLOAD_BODY, saved_upload
from cohortflow.domain.rotation_plan import MAX_YEARS, RotationPlan
from cohortflow.services import programmes
from cohortflow.services.plans import start_plan
from cohortflow.workflows.rotation_plan import (
    RosterImport,
    RotationPlanInput,
    RotationPlanStatus,
    RotationPlanWorkflow,
    plan_workflow_id,
)

router = APIRouter(prefix="/api/v1/plans", tags=["plans"], route_class=AnswersKept)


class StartPlan(BaseModel):
    plan_id: str = Field(pattern=COHORT_ID, description="Becomes workflow plan-{id}; cohorts are {id}-{year}")
    name: Reason
    programme_id: Code
    version: int = Field(ge=1)
    first_year: int = Field(ge=2000, le=2100, description="Calendar year of the first cohort, started at once")
    years: int = Field(ge=1, le=MAX_YEARS, description="One cohort a year for this many years")
    day_seconds: float = Field(default=86_400.0, gt=0, le=86_400.0, description="Length of a programme day")


@router.post("", status_code=201, responses=answers(404, 409))
async def start(
    body: StartPlan,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.COHORTS_START))],
    _: AnsweredOnce,
) -> RotationPlanStatus:
    """Start the plan: its first cohort at once, then one a year; a nominee of another of its cohorts is refused."""
    programme = await programmes.load(request.app.state.store, body.programme_id, body.version)
    plan = RotationPlan(
        id=body.plan_id,
        name=body.name,
        programme_id=body.programme_id,
        programme_version=body.version,
        first_year=body.first_year,
        years=body.years,
    )
    inp = RotationPlanInput(plan=plan, programme=programme, day_seconds=body.day_seconds, actor=principal.actor)
    client: Client = request.app.state.temporal
    await start_plan(client, request.app.state.store, inp, request.app.state.settings.task_queue)
    return RotationPlanStatus(plan_id=plan.id, started=[], planned=plan.cohort_ids)


class PlanView(RotationPlanStatus):
    coverage: PlanCoverage


@router.get("/{plan_id}")
async def status(
    plan_id: str, request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]
) -> PlanView:
    """The plan's cohorts (started so far, and all it will start) and how much of its roster they cover."""
    client: Client = request.app.state.temporal
    found: RotationPlanStatus = await client.get_workflow_handle(plan_workflow_id(plan_id)).query(
        RotationPlanWorkflow.status
    )
    coverage = await plan_coverage(request.app.state.store, plan_id, found.planned)
    return PlanView(**found.model_dump(), coverage=coverage)


@router.post(
    "/{plan_id}/roster",
    responses={**answers(409, 415), 422: {"description": "Bad rows; none added (the roster's counts in the problem)"}},
    openapi_extra=UPLOAD_BODY,
)
async def import_roster(
    plan_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.COHORTS_START))],
    once: Idempotent,
) -> RosterOutcome:
    """Add the eligible people of a file to the plan's roster: all of them, or none if any row is bad.

    Once a plan has a roster, nominees of its cohorts must be on it.
    """
    saved = await saved_upload(request)
    req = RosterImport(digest=saved.digest, filename=saved.filename, actor=principal.actor)
    handle = request.app.state.temporal.get_workflow_handle(plan_workflow_id(plan_id))
    # Rows refused answer 422 (commands.send does so for every import).
    outcome: RosterOutcome = await send(handle, RotationPlanWorkflow.import_roster, req, once=once)
    return outcome
