"""Imports into a cohort from the console: a file uploaded to the cohort's current stage or, in a block template's
cohort, to one of its open blocks (with a progress bar),
checked row by row by the cohort exactly as the API's import is, and answered with what was applied or with
every row's problem in a table; with "apply the good rows" the others are kept for download, masked as the
reader may see them.

The file goes through the API's own path (``api.imports.imported``: the upload saved under its digest, the
cohort's ``import_file`` Update), so its limits, refusals and recorded actor are the API's: a file of the wrong kind or
size is refused before it is read, and nothing of a refused file is applied.
"""

from __future__ import annotations

from typing import Annotated, cast, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from temporalio.client import WorkflowUpdateFailedError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.activities.imports import ImportOutcome
from cohortflow.api.commands import RowsRefused, refusal
from cohortflow.api.errors import UnsupportedUpload
from cohortflow.api.imports import imported, rejects
from cohortflow.console.cohorts import live_status, open_blocks_of
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.events import ImportKind

router = APIRouter(prefix="/console", include_in_schema=False)
Importer = Annotated[Session, allowed(Permission.IMPORTS_WRITE)]
KINDS: tuple[str, ...] = get_args(ImportKind)


async def _shown(
    request: Request, session: Session, cohort_id: str, status_code: int = 200, **more: object
) -> HTMLResponse:
    status = await live_status(request, cohort_id)
    blocks = [] if status is None else [b.code for b in open_blocks_of(status)]
    return page(
        request,
        "import.html",
        status_code,
        principal=session.principal,
        csrf=session.csrf,
        cohort_id=cohort_id,
        kinds=KINDS,
        blocks=blocks,
        **more,
    )


@router.get("/cohorts/{cohort_id}/imports")
async def import_page(request: Request, session: Importer, cohort_id: str) -> HTMLResponse:
    return await _shown(request, session, cohort_id)


@router.post("/cohorts/{cohort_id}/imports")
async def import_file(request: Request, session: Importer, cohort_id: str) -> HTMLResponse:
    await form_token(request, session)
    form = await request.form()
    kind, partial = str(form.get("kind", "")), form.get("accept_partial") == "yes"
    block = str(form.get("block", "")) or None
    if kind not in KINDS:
        return await _shown(request, session, cohort_id, 422, problem=say(request, "Choose what the file holds."))
    shown: dict[str, object] = {"kind": kind, "block": block}
    try:
        outcome = await imported(
            request, session.principal, cohort_id, cast(ImportKind, kind), accept_partial=partial, block=block
        )
    except UnsupportedUpload as exc:
        return await _shown(request, session, cohort_id, 415, problem=str(exc), **shown)
    except RowsRefused as exc:
        refused = ImportOutcome.model_validate(exc.outcome)
        return await _shown(request, session, cohort_id, 422, outcome=refused, **shown)
    except WorkflowUpdateFailedError as exc:
        return await _shown(request, session, cohort_id, 409, problem=refusal(exc), **shown)
    return await _shown(request, session, cohort_id, 200, outcome=outcome, **shown)


@router.get("/imports/{digest}/rejects")
async def rejected_rows(request: Request, session: Importer, digest: str, import_id: str | None = None) -> Response:
    """The rows a partial import left out, as the API's route serves them to this account."""
    return await rejects(digest, request, session.principal, import_id)
