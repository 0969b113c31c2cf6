"""A cohort's page: where it stands (stage, next deadline, counts, the blocks open now), its participants by name,
school or ID number, and for an account that steers cohorts, a form for each steering command, each with a reason
and a ticked confirmation.

A steering form sends the API's own command (``api.cohorts.steer``, the cohort's Update) with the signed-in
account as its actor, so the history records who did it; the page then shows the outcome, or the reason the
cohort gave for refusing. The form's values are checked with the API's request models first, each problem
shown beside its field, and nothing is sent until all are right. Each page carries a fresh idempotency key in its
forms, so a form sent twice (a reload, a double click) is applied once and answered as the first time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.api.cohorts import STEERING
from cohortflow.api.cohorts import steer as send_steering
from cohortflow.api.commands import CommandPending, refusal
from cohortflow.api.id_search import id_search
from cohortflow.api.idempotency import KeyReused, Once
from cohortflow.console.form_problems import problems_of
from cohortflow.console.rendering import not_found, page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.vocabulary import PROVINCE_ZONE, CorrectableField
from cohortflow.readmodels.queries import CohortFilter, CohortRow, ParticipantSearch, list_cohorts, search_participants
from cohortflow.workflows.block_cycle import OpenBlock
from cohortflow.workflows.cohort_cycle import workflow_id

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.COHORTS_READ)]
Steerer = Annotated[Session, allowed(Permission.COHORTS_STEER)]
SHOWN = 50
"""Participants the page lists; a longer list asks for a narrower search."""
STATUS_WAIT = 5.0
"""Seconds the page waits for the cohort's own status (its open blocks) before it is shown without it."""


OUTCOMES = ("closing", "extended", "withdrawn", "promoted", "corrected")
"""What a cohort answers a steering command with (``AdminOutcome.outcome``), shown in the reader's language."""
PHASE_FORMS = ("close-phase", "extend-deadline")
BLOCK_FORMS = ("close-block", "extend-block")
PARTICIPANT_FORMS = ("withdraw", "fill-place", "correct")
CORRECTABLE: tuple[str, ...] = get_args(CorrectableField)


async def _cohort(request: Request, session: Session, cohort_id: str) -> CohortRow | None:
    only = CohortFilter(cohort_id=cohort_id)
    rows = await list_cohorts(request.app.state.store.pool, session.principal.prefecture_scope, only=only)
    return rows[0] if rows else None


async def live_status(request: Request, cohort_id: str) -> dict[str, Any] | None:
    """The cohort's status as its workflow knows it (a block template's cohort lists its open blocks); None when
    the workflow cannot say (it has ended, or Temporal is out), when it cannot be steered either."""
    handle = request.app.state.temporal.get_workflow_handle(workflow_id(cohort_id))
    try:
        status: dict[str, Any] = await asyncio.wait_for(handle.query("status"), STATUS_WAIT)
    except (RPCError, WorkflowQueryFailedError, TimeoutError):
        return None
    return status


def open_blocks_of(status: dict[str, Any]) -> list[OpenBlock]:
    """A block template's cohort's open blocks, from its status as the query answers it (JSON)."""
    return [OpenBlock.model_validate(b) for b in status.get("open_blocks", [])]


async def _shown(
    request: Request,
    session: Session,
    cohort_id: str,
    status_code: int = 200,
    search: dict[str, str] | None = None,
    **more: Any,
) -> HTMLResponse:
    principal = session.principal
    pool = request.app.state.store.pool
    cohort = await _cohort(request, session, cohort_id)
    if cohort is None:
        return not_found(request, session, say(request, "No such cohort (that you may see)."))
    status = None if cohort.completed else await live_status(request, cohort_id)
    open_blocks = None if status is None or "open_blocks" not in status else open_blocks_of(status)
    search = search or {}
    try:
        where = ParticipantSearch(
            name=search.get("name") or None,
            school=search.get("school") or None,
            **id_search(search.get("national_id"), principal),
        )
    except ValueError as exc:
        where, more["search_problem"] = None, str(exc)
    found = [] if where is None else await search_participants(pool, cohort_id, where, principal.prefecture_scope)
    participants = [row.model_copy(update=principal.shown(dict(row))) for row in found[:SHOWN]]
    return page(
        request,
        "cohort.html",
        status_code,
        principal=principal,
        csrf=session.csrf,
        cohort=cohort,
        open_blocks=open_blocks,
        block_choices=[(b.code, b.code) for b in open_blocks or []],
        participants=participants,
        more_participants=len(found) > SHOWN,
        search=search,
        steerable=status is not None,
        forms=(PHASE_FORMS if open_blocks is None else BLOCK_FORMS) + PARTICIPANT_FORMS,
        correctable_choices=[(f, say(request, f"fact:{f}")) for f in CORRECTABLE],
        once=uuid.uuid4().hex,
        **more,
    )


@router.get("/cohorts/{cohort_id}")
async def cohort_page(
    request: Request,
    session: Reader,
    cohort_id: str,
    name: Annotated[str, Query(max_length=100)] = "",
    school: Annotated[str, Query(max_length=200)] = "",
    national_id: Annotated[str, Query(max_length=18)] = "",
) -> HTMLResponse:
    search = {"name": name.strip(), "school": school.strip(), "national_id": national_id.strip()}
    return await _shown(request, session, cohort_id, search=search)


def _fields(sent: dict[str, str], request_model: type[BaseModel]) -> dict[str, Any]:
    """The form's fields as the request model takes them: a blank field left out (so its default applies, or it
    is reported missing), and a date and time (``datetime-local``) read as China time."""
    fields: dict[str, Any] = {}
    for name, field in request_model.model_fields.items():
        value = sent.get(name, "").strip()
        if not value:
            continue
        if field.annotation is datetime:
            try:
                fields[name] = datetime.fromisoformat(value).replace(tzinfo=PROVINCE_ZONE)
            except ValueError:
                fields[name] = value  # the model reports it, as a date and time it cannot read
            continue
        fields[name] = value
    return fields


@router.post("/cohorts/{cohort_id}/steer/{form}")
async def steer(request: Request, session: Steerer, cohort_id: str, form: str) -> HTMLResponse:
    await form_token(request, session)
    steering = STEERING.get(form)
    if steering is None:
        return not_found(request, session, say(request, "No such command."))
    submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    sent = {k: v[:2000] for k, v in submitted.items() if k not in ("csrf", "once")}
    shown: dict[str, Any] = {"form": form, "sent": sent}
    try:
        body = steering.request.model_validate(_fields(sent, steering.request))
    except ValidationError as exc:
        return await _shown(request, session, cohort_id, 422, problems=problems_of(request, exc), **shown)
    if sent.get("confirm") != "yes":
        problems = {"confirm": say(request, "Tick to confirm: this cannot be undone.")}
        return await _shown(request, session, cohort_id, 422, problems=problems, **shown)
    key = submitted.get("once", "")
    once = Once(key, request.app.state.store.pool) if key.isalnum() and len(key) <= 128 else None
    handle = request.app.state.temporal.get_workflow_handle(workflow_id(cohort_id))
    try:
        outcome = await send_steering(handle, form, body, session.principal.actor, once)
    except WorkflowUpdateFailedError as exc:
        return await _shown(request, session, cohort_id, 409, refused=refusal(exc), **shown)
    except KeyReused:
        refused = say(request, "This form was already sent with other values; send it again from a fresh page.")
        return await _shown(request, session, cohort_id, 409, refused=refused, **shown)
    except CommandPending:
        done = say(request, "The cohort accepted the command; it will be applied once its store is back.")
        return await _shown(request, session, cohort_id, 202, form=form, done=done)
    done = say(request, "Done: {outcome}.").format(outcome=say(request, outcome.outcome))
    return await _shown(request, session, cohort_id, form=form, done=done)
