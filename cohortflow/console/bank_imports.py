"""The credit bank's files from the console: a people file (registering people and correcting the registered, with
a reason), a credits file (hours recorded by a school, a district or a reviewer) or a reversals file, uploaded
with a progress bar and applied whole or refused whole with every row's problem listed.

The file goes through the API's own path (``api.credit_bank.bank_import``), so its limits, checks, scope and
recorded actor are the API's: a school records its own school's credits only, a coordinator's rows stay in their
prefecture, and a file of the wrong kind or size is refused before it is read.
"""

from __future__ import annotations

from typing import cast, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from temporalio.client import WorkflowUpdateFailedError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Principal
from cohortflow.activities.credit_bank import BankOutcome
from cohortflow.api.commands import RowsRefused, refusal
from cohortflow.api.credit_bank import BANK_FILE_PERMISSIONS, BankFile, bank_import
from cohortflow.api.errors import UnsupportedUpload
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import NotAllowed, Signed, form_token
from cohortflow.domain.credit_bank.credits import BankSource

router = APIRouter(prefix="/console", include_in_schema=False)
SOURCES: tuple[str, ...] = get_args(BankSource)


def _kinds(principal: Principal) -> list[BankFile]:
    """The bank's files this account may import; none, and the page is not theirs."""
    kinds = [kind for kind, needed in BANK_FILE_PERMISSIONS.items() if principal.can(needed)]
    if not kinds:
        raise NotAllowed("credit bank imports")
    return kinds


def _shown(request: Request, session: Session, status_code: int = 200, **more: object) -> HTMLResponse:
    principal = session.principal
    return page(
        request,
        "bank_import.html",
        status_code,
        principal=principal,
        csrf=session.csrf,
        kinds=_kinds(principal),
        sources=SOURCES,
        **more,
    )


@router.get("/credit-bank/imports")
async def bank_import_page(request: Request, session: Signed) -> HTMLResponse:
    return _shown(request, session)


@router.post("/credit-bank/imports")
async def bank_import_file(request: Request, session: Signed) -> HTMLResponse:
    await form_token(request, session)
    principal = session.principal
    form = await request.form()
    sent = {k: str(form.get(k, "")).strip() for k in ("kind", "reason", "recorded_by", "source")}
    if sent["kind"] not in _kinds(principal):
        return _shown(request, session, 422, problems={"kind": say(request, "Choose what the file holds.")}, sent=sent)
    if principal.school_scope is not None:  # a school records its own school's credits, as the API insists
        sent |= {"source": "school", "recorded_by": principal.school_scope}
    problems = {}
    if sent["kind"] == "credits" and not sent["recorded_by"]:
        problems["recorded_by"] = say(request, "Fill this in.")
    if sent["kind"] == "credits" and sent["source"] not in SOURCES:
        problems["source"] = say(request, "Choose one of the choices offered.")
    if problems:
        return _shown(request, session, 422, problems=problems, sent=sent)
    try:
        outcome = await bank_import(
            request,
            principal,
            sent["kind"],
            reason=sent["reason"],
            recorded_by=sent["recorded_by"],
            source=cast(BankSource, sent["source"] or "school"),
        )
    except UnsupportedUpload as exc:
        return _shown(request, session, 415, problem=str(exc), sent=sent)
    except RowsRefused as exc:
        return _shown(request, session, 422, outcome=BankOutcome.model_validate(exc.outcome), sent=sent)
    except WorkflowUpdateFailedError as exc:
        return _shown(request, session, 409, problem=refusal(exc), sent=sent)
    return _shown(request, session, 200, outcome=outcome, sent=sent)
