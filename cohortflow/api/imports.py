"""/api/v1/cohorts/{id}/imports: upload a spreadsheet; the cohort workflow checks and applies it.

The upload is streamed to the shared uploads directory under its SHA-256
digest; only the digest travels through Temporal. Uploading the same file
again finds the import already recorded and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities.imports import ImportOutcome, rejects_path
from cohortflow.api.auth import require
from cohortflow.api.uploads import UPLOAD_BODY, saved_upload
from cohortflow.domain.events import ImportKind
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow, FileImport, workflow_id

router = APIRouter(prefix="/api/v1", tags=["imports"])
Importer = Annotated[Principal, Depends(require(Permission.IMPORTS_WRITE))]


@router.post(
    "/cohorts/{cohort_id}/imports/{kind}",
    responses={422: {"model": ImportOutcome, "description": "bad rows; nothing was applied"}},
    openapi_extra=UPLOAD_BODY,
)
async def import_file(
    cohort_id: str,
    kind: ImportKind,
    request: Request,
    principal: Importer,
    accept_partial: bool = False,
    block: Annotated[
        str | None, Query(description="A block template's open block the file is for, when several take its kind")
    ] = None,
) -> ImportOutcome:
    """Check every row and apply all of them, or none if any is bad.

    With ``accept_partial`` the good rows are applied and the rejected ones can be
    downloaded from ``/api/v1/imports/{digest}/rejects``. A coordinator's rows
    must all belong to their own prefecture.
    """
    saved = await saved_upload(request)
    req = FileImport(
        kind=kind,
        digest=saved.digest,
        filename=saved.filename,
        accept_partial=accept_partial,
        prefecture=principal.prefecture_scope,
        actor=principal.actor,
        block=block,
    )
    handle = request.app.state.temporal.get_workflow_handle(workflow_id(cohort_id))
    outcome: ImportOutcome = await handle.execute_update(CohortCycleWorkflow.import_file, req)
    if outcome.status == "refused":
        return JSONResponse(status_code=422, content=outcome.model_dump(mode="json"))  # type: ignore[return-value]
    return outcome


@router.get("/imports/{digest}/rejects", response_class=FileResponse)
async def rejects(digest: str, request: Request, _: Importer) -> FileResponse:
    """The rows a partial import left out, each with its row number and reasons (CSV, UTF-8 with BOM)."""
    if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise LookupError(f"{digest!r} is not an upload digest")
    path = rejects_path(request.app.state.settings.uploads, digest)
    if not path.is_file():
        raise LookupError(f"no rejected rows are kept for upload {digest}")
    return FileResponse(path, media_type="text/csv", filename=f"rejects-{digest[:12]}.csv")
