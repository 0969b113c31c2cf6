"""A cohort's page: where it stands (stage, next deadline, counts), and for an account that steers cohorts, the
forms that close the open stage early or move its deadline, each with a reason and a confirmation.

A steering form sends the API's own command (``api.commands.send``, the cohort's Update) with the signed-in
account as its actor, so the history records who did it; the page then shows the outcome, or the reason the
cohort gave for refusing. The form's values are checked with the API's request models first, each problem
shown beside its field, and nothing is sent until all are right.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.api.cohorts import ClosePhaseRequest, ExtendDeadlineRequest
from cohortflow.api.commands import CommandPending, refusal, send
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.queries import CohortRow, list_cohorts
from cohortflow.workflows.cohort_cycle import ClosePhase, CohortCycleWorkflow, ExtendDeadline, workflow_id

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.COHORTS_READ)]
Steerer = Annotated[Session, allowed(Permission.COHORTS_STEER)]
Text = Annotated[str, Form(max_length=2000)]
OUTCOMES = ("closing", "extended")
"""What the cohort answers these forms' commands with, shown in the reader's language."""


async def _cohort(request: Request, session: Session, cohort_id: str) -> CohortRow | None:
    rows = await list_cohorts(request.app.state.store.pool, session.principal.prefecture_scope)
    return next((c for c in rows if c.cohort_id == cohort_id), None)


async def _shown(
    request: Request, session: Session, cohort_id: str, status_code: int = 200, **more: Any
) -> HTMLResponse:
    cohort = await _cohort(request, session, cohort_id)
    if cohort is None:
        message = say(request, "No such cohort (that you may see).")
        return page(request, "message.html", 404, principal=session.principal, csrf=session.csrf, message=message)
    return page(
        request, "cohort.html", status_code, principal=session.principal, csrf=session.csrf, cohort=cohort, **more
    )


@router.get("/cohorts/{cohort_id}")
async def cohort_page(request: Request, session: Reader, cohort_id: str) -> HTMLResponse:
    return await _shown(request, session, cohort_id)


def _problems(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][-1]): e["msg"] for e in exc.errors()}


async def _steer(
    request: Request, session: Session, cohort_id: str, form: str, body: BaseModel, update: Any, command: BaseModel
) -> HTMLResponse:
    handle = request.app.state.temporal.get_workflow_handle(workflow_id(cohort_id))
    try:
        outcome = await send(handle, update, command)
    except WorkflowUpdateFailedError as exc:
        return await _shown(request, session, cohort_id, 409, form=form, refused=refusal(exc), sent=body)
    except CommandPending:
        done = say(request, "The cohort accepted the command; it will be applied once its store is back.")
        return await _shown(request, session, cohort_id, 202, form=form, done=done)
    done = say(request, "Done: {outcome}.").format(outcome=say(request, outcome.outcome))
    return await _shown(request, session, cohort_id, form=form, done=done)


@router.post("/cohorts/{cohort_id}/close-phase")
async def close_phase(
    request: Request, session: Steerer, cohort_id: str, phase: Text = "", reason: Text = "", confirm: Text = ""
) -> HTMLResponse:
    await form_token(request, session)
    fields = {"phase": phase, "reason": reason}
    try:
        body = ClosePhaseRequest.model_validate(fields)
    except ValidationError as exc:
        return await _shown(request, session, cohort_id, 422, form="close", problems=_problems(exc), sent=fields)
    if confirm != "yes":
        problems = {"confirm": say(request, "Tick to confirm: this cannot be undone.")}
        return await _shown(request, session, cohort_id, 422, form="close", problems=problems, sent=fields)
    command = ClosePhase(phase=body.phase, reason=body.reason, actor=session.principal.actor)
    return await _steer(request, session, cohort_id, "close", body, CohortCycleWorkflow.close_phase, command)


@router.post("/cohorts/{cohort_id}/extend-deadline")
async def extend_deadline(
    request: Request, session: Steerer, cohort_id: str, phase: Text = "", new_deadline: Text = "", reason: Text = ""
) -> HTMLResponse:
    await form_token(request, session)
    fields = {"phase": phase, "new_deadline": new_deadline, "reason": reason}
    try:
        moment = datetime.fromisoformat(new_deadline).replace(tzinfo=PROVINCE_ZONE) if new_deadline else None
        body = ExtendDeadlineRequest.model_validate({**fields, "new_deadline": moment})
    except ValueError as exc:
        problems = _problems(exc) if isinstance(exc, ValidationError) else {"new_deadline": str(exc)}
        return await _shown(request, session, cohort_id, 422, form="extend", problems=problems, sent=fields)
    command = ExtendDeadline(
        phase=body.phase, new_deadline=body.new_deadline, reason=body.reason, actor=session.principal.actor
    )
    return await _steer(request, session, cohort_id, "extend", body, CohortCycleWorkflow.extend_deadline, command)
