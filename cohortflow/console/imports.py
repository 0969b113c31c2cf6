"""Imports into a cohort from the console: a file uploaded to the cohort's current stage (with a progress bar),
checked row by row by the cohort exactly as the API's import is, and answered with what was applied or with
every row's problem in a table; with "apply the good rows" the others are kept for download, masked as the
reader may see them.

The file goes through the API's own path (``api.uploads.saved_upload``, the cohort's ``import_file`` Update via
``api.commands.send``), so its limits, refusals and recorded actor are the API's: a file of the wrong kind or
size is refused before it is read, and nothing of a refused file is applied.
"""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from temporalio.client import WorkflowUpdateFailedError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.activities.imports import ImportOutcome
from cohortflow.api.commands import RowsRefused, refusal, send
from cohortflow.api.errors import UnsupportedUpload
from cohortflow.api.imports import rejects
from cohortflow.api.uploads import saved_upload
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.events import ImportKind
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow, FileImport, workflow_id

router = APIRouter(prefix="/console", include_in_schema=False)
Importer = Annotated[Session, allowed(Permission.IMPORTS_WRITE)]
KINDS: tuple[str, ...] = get_args(ImportKind)


def _shown(request: Request, session: Session, cohort_id: str, status_code: int = 200, **more: object) -> HTMLResponse:
    return page(
        request,
        "import.html",
        status_code,
        principal=session.principal,
        csrf=session.csrf,
        cohort_id=cohort_id,
        kinds=KINDS,
        **more,
    )


@router.get("/cohorts/{cohort_id}/imports")
async def import_page(request: Request, session: Importer, cohort_id: str) -> HTMLResponse:
    return _shown(request, session, cohort_id)


@router.post("/cohorts/{cohort_id}/imports")
async def import_file(request: Request, session: Importer, cohort_id: str) -> HTMLResponse:
    await form_token(request, session)
    form = await request.form()
    kind, partial = str(form.get("kind", "")), form.get("accept_partial") == "yes"
    if kind not in KINDS:
        return _shown(request, session, cohort_id, 422, problem=say(request, "Choose what the file holds."))
    try:
        saved = await saved_upload(request)
    except UnsupportedUpload as exc:
        return _shown(request, session, cohort_id, 415, problem=str(exc), kind=kind)
    principal = session.principal
    req = FileImport(
        kind=kind,  # one of KINDS, checked above
        digest=saved.digest,
        filename=saved.filename,
        accept_partial=partial,
        prefecture=principal.prefecture_scope,
        actor=principal.actor,
    )
    handle = request.app.state.temporal.get_workflow_handle(workflow_id(cohort_id))
    try:
        outcome: ImportOutcome = await send(handle, CohortCycleWorkflow.import_file, req)
    except RowsRefused as exc:
        refused = ImportOutcome.model_validate(exc.outcome)
        return _shown(request, session, cohort_id, 422, outcome=refused, kind=kind)
    except WorkflowUpdateFailedError as exc:
        return _shown(request, session, cohort_id, 409, problem=refusal(exc), kind=kind)
    return _shown(request, session, cohort_id, outcome=outcome, kind=kind)


@router.get("/imports/{digest}/rejects")
async def rejected_rows(request: Request, session: Importer, digest: str, import_id: str | None = None) -> Response:
    """The rows a partial import left out, as the API's route serves them to this account."""
    return await rejects(digest, request, session.principal, import_id)
