"""/api/v1/plans: rotation plans, one cohort of the same programme a year, nobody enrolled twice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from temporalio.client import Client

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.cohorts import COHORT_ID
from cohortflow.domain.rotation_plan import MAX_YEARS, RotationPlan
from cohortflow.services import programmes
from cohortflow.services.plans import start_plan
from cohortflow.workflows.rotation_plan import (
    RotationPlanInput,
    RotationPlanStatus,
    RotationPlanWorkflow,
    plan_workflow_id,
)

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


class StartPlan(BaseModel):
    plan_id: str = Field(pattern=COHORT_ID, description="Becomes workflow plan-{id}; cohorts are {id}-{year}")
    name: str = Field(min_length=1)
    programme_id: str
    version: int = Field(ge=1)
    first_year: int = Field(ge=2000, le=2100, description="Calendar year of the first cohort, started at once")
    years: int = Field(ge=1, le=MAX_YEARS, description="One cohort a year for this many years")
    day_seconds: float = Field(default=86_400.0, gt=0, le=86_400.0, description="Length of a programme day")


@router.post("", status_code=201)
async def start(
    body: StartPlan, request: Request, principal: Annotated[Principal, Depends(require(Permission.COHORTS_START))]
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


@router.get("/{plan_id}")
async def status(
    plan_id: str, request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]
) -> RotationPlanStatus:
    """The plan's cohorts: those started so far and all it will start."""
    client: Client = request.app.state.temporal
    result: RotationPlanStatus = await client.get_workflow_handle(plan_workflow_id(plan_id)).query(
        RotationPlanWorkflow.status
    )
    return result
