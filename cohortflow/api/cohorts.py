"""/api/v1/cohorts: start a cohort from a programme version, see where it stands, steer it.

Admin actions are Updates on the cohort workflow: each answers with the
outcome, or with the specific reason the cohort refused it (409).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from temporalio.client import Client, WorkflowHandle

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.commands import send
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept, Idempotent, Once
from cohortflow.api.pages import NEXT_LINK, Key, Paged, microseconds
from cohortflow.api.problems import answers
from cohortflow.api.text import Code, Reason, Value
from cohortflow.domain.events import CorrectableField
from cohortflow.domain.programme import PhaseKind
from cohortflow.readmodels.queries import CohortFilter
from cohortflow.services.cohorts import start_version
from cohortflow.services.execution import Execution, StalledCohort, StallFilter, execution_of, stalled_cohorts
from cohortflow.workflows.block_cycle import BlockCycleStatus, CloseBlock, ExtendBlock
from cohortflow.workflows.cohort_cycle import (
    ClosePhase,
    CycleStatus,
    ExtendDeadline,
    PlaceFill,
    Withdraw,
    workflow_id,
)
from cohortflow.workflows.cycle_support import AdminOutcome, Correction

router = APIRouter(prefix="/api/v1/cohorts", tags=["cohorts"], route_class=AnswersKept)
COHORT_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
Steer = Annotated[Principal, Depends(require(Permission.COHORTS_STEER))]


class StartCohort(BaseModel):
    cohort_id: str = Field(pattern=COHORT_ID, description="Letters, digits, - and _; becomes workflow cohort-{id}")
    programme_id: Code
    version: int = Field(ge=1)
    day_seconds: float = Field(default=86_400.0, gt=0, le=86_400.0, description="Length of a programme day")


class CohortStatus(CycleStatus):
    execution: Execution
    """How the cohort's workflow runs: its state, and why it is stalled or how it ended."""


class BlockCohortStatus(BlockCycleStatus):
    execution: Execution
    """How the cohort's workflow runs: its state, and why it is stalled or how it ended."""


class Started(BaseModel):
    cohort_id: str
    workflow_id: str
    programme_id: str
    programme_version: int


class ClosePhaseRequest(BaseModel):
    phase: PhaseKind
    reason: Reason


class ExtendBlockRequest(BaseModel):
    block: Code
    new_close: AwareDatetime = Field(description="The block's new close, with its time zone")
    reason: Reason


class CloseBlockRequest(BaseModel):
    block: Code = Field(description="The code of an open block")
    reason: Reason


class ExtendDeadlineRequest(BaseModel):
    phase: PhaseKind
    new_deadline: datetime
    reason: Reason


class WithdrawRequest(BaseModel):
    participant_id: Code
    reason: Reason


class FillPlaceRequest(BaseModel):
    participant_id: Code | None = Field(default=None, description="Default: the next eligible on the waiting list")
    reason: Reason


class CorrectionRequest(BaseModel):
    participant_id: Code
    field: CorrectableField
    value: Value
    reason: Reason


@dataclass(frozen=True)
class Steering:
    """A steering command: its request model checks the fields sent (by the API and the console's forms alike),
    and the workflow's command, the request's fields and the actor, is sent as the cohort's Update ``update``."""

    request: type[BaseModel]
    command: type[BaseModel]
    update: str


STEERING = {
    "close-phase": Steering(ClosePhaseRequest, ClosePhase, "close_phase"),
    "extend-deadline": Steering(ExtendDeadlineRequest, ExtendDeadline, "extend_deadline"),
    "close-block": Steering(CloseBlockRequest, CloseBlock, "close_block"),
    "extend-block": Steering(ExtendBlockRequest, ExtendBlock, "extend_block"),
    "withdraw": Steering(WithdrawRequest, Withdraw, "withdraw_participant"),
    "fill-place": Steering(FillPlaceRequest, PlaceFill, "fill_place"),
    "correct": Steering(CorrectionRequest, Correction, "correct_fact"),
}


async def steer(
    handle: WorkflowHandle[Any, Any], name: str, body: BaseModel, actor: str, once: Once | None = None
) -> AdminOutcome:
    """The outcome of the steering command ``name`` with ``body``'s fields, sent as ``actor`` (see ``send``)."""
    steering = STEERING[name]
    command = steering.command.model_validate({**body.model_dump(), "actor": actor})
    outcome: AdminOutcome = await send(handle, steering.update, command, AdminOutcome, once=once)
    return outcome


def _client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _handle(request: Request, cohort_id: str) -> WorkflowHandle[Any, Any]:
    return _client(request).get_workflow_handle(workflow_id(cohort_id))


@router.post("", status_code=201, responses=answers(404, 409))
async def start(
    body: StartCohort,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.COHORTS_START))],
    _: AnsweredOnce,
) -> Started:
    """Start a cohort under a recorded programme version, which stays pinned for the cohort's life."""
    handle, programme = await start_version(
        _client(request),
        request.app.state.store,
        request.app.state.settings.task_queue,
        cohort_id=body.cohort_id,
        programme_id=body.programme_id,
        version=body.version,
        actor=principal.actor,
        day_seconds=body.day_seconds,
    )
    return Started(
        cohort_id=body.cohort_id, workflow_id=handle.id, programme_id=programme.id, programme_version=programme.version
    )


def _stall_key(found: StalledCohort) -> Key:
    return (microseconds(found.stall.since), found.cohort_id)


@router.get("/stalled", responses={200: {"headers": NEXT_LINK}})
async def stalled(
    request: Request,
    _: Steer,
    page: Paged,
    step: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only cohorts stalled at this step (an activity, `workflow task`, or a child's step)",
        ),
    ] = None,
    min_minutes: Annotated[
        int | None, Query(ge=0, le=10_000_000, description="Only cohorts stalled at least this many minutes")
    ] = None,
    programme_id: Annotated[str | None, Query(description="Only cohorts of this programme (asks the database)")] = None,
    phase: Annotated[str | None, Query(description="Only cohorts in this phase or block (asks the database)")] = None,
) -> list[StalledCohort]:
    """Every running cohort that cannot make progress, with the failing step, why and since when; longest first,
    a page at a time. Unfiltered, or filtered by step and time alone, the list asks Temporal only, so it answers
    while the database is out."""
    only = None if programme_id is None and phase is None else CohortFilter(programme_id=programme_id, phase=phase)
    stalls = StallFilter(step=step, at_least=None if min_minutes is None else timedelta(minutes=min_minutes))
    kept = await stalled_cohorts(_client(request), request.app.state.store.pool, only, stalls)
    return page.of(sorted(kept, key=_stall_key), _stall_key, int, str)


@router.get("/{cohort_id}/status")
async def status(
    cohort_id: str, request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]
) -> CohortStatus | BlockCohortStatus:
    """Where the cohort stands, as its workflow knows it (the open phase and its deadline, or the open blocks), and
    how its workflow runs: a stalled cohort names the failing step, the failure and since when."""
    handle = _handle(request, cohort_id)
    found, execution = await asyncio.gather(handle.query("status"), execution_of(_client(request), handle.id))
    shown = {**found, "execution": execution}
    return BlockCohortStatus.model_validate(shown) if "open_blocks" in found else CohortStatus.model_validate(shown)


@router.post("/{cohort_id}/close-phase", responses=answers(409))
async def close_phase(
    cohort_id: str, body: ClosePhaseRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Close the open phase before its deadline."""
    return await steer(_handle(request, cohort_id), "close-phase", body, principal.actor, once)


@router.post("/{cohort_id}/close-block", responses=answers(409))
async def close_block(
    cohort_id: str, body: CloseBlockRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Close an open block of a block template's cohort before its day; its credits are decided then."""
    return await steer(_handle(request, cohort_id), "close-block", body, principal.actor, once)


@router.post("/{cohort_id}/extend-block", responses=answers(409))
async def extend_block(
    cohort_id: str, body: ExtendBlockRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Move an open block's close later; every step of the programme on or after its day moves back by as much."""
    return await steer(_handle(request, cohort_id), "extend-block", body, principal.actor, once)


@router.post("/{cohort_id}/extend-deadline", responses=answers(409))
async def extend_deadline(
    cohort_id: str, body: ExtendDeadlineRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    return await steer(_handle(request, cohort_id), "extend-deadline", body, principal.actor, once)


@router.post("/{cohort_id}/withdrawals", responses=answers(409))
async def withdraw(
    cohort_id: str, body: WithdrawRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Withdraw a participant; while the programme allows, the place is refilled from the waiting list."""
    return await steer(_handle(request, cohort_id), "withdraw", body, principal.actor, once)


@router.post("/{cohort_id}/fill-place", responses=answers(409))
async def fill_place(
    cohort_id: str, body: FillPlaceRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Fill an open place from the waiting list."""
    return await steer(_handle(request, cohort_id), "fill-place", body, principal.actor, once)


@router.post("/{cohort_id}/corrections", responses=answers(409))
async def correct(
    cohort_id: str, body: CorrectionRequest, request: Request, principal: Steer, once: Idempotent
) -> AdminOutcome:
    """Correct one recorded fact; the original stays in the history beside the correction and its reason."""
    return await steer(_handle(request, cohort_id), "correct", body, principal.actor, once)
