"""/api/v1/cohorts/{id}/imports: upload a spreadsheet; the cohort workflow checks and applies it.

The upload is streamed to the shared uploads directory under its SHA-256
digest; only the digest travels through Temporal. Uploading the same file
again finds the import already recorded and changes nothing.

A partial import's rejected rows belong to that import: only its importer's
prefecture (a coordinator of it) or an administrator may download them, others
are answered 404 as if there were none; ID numbers are masked unless the
downloader may read them; after ``rejects_keep_days`` they are gone (410).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities import rejects as kept
from cohortflow.activities.imports import ImportOutcome
from cohortflow.api.auth import require
from cohortflow.api.commands import send
from cohortflow.api.idempotency import Idempotent, Once
from cohortflow.api.problems import answers, problem
from cohortflow.api.uploads import UPLOAD_BODY, saved_upload
from cohortflow.domain.events import ImportKind
from cohortflow.domain.phrases import phrase
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow, FileImport, workflow_id

router = APIRouter(prefix="/api/v1", tags=["imports"])
Importer = Annotated[Principal, Depends(require(Permission.IMPORTS_WRITE))]


@router.post(
    "/cohorts/{cohort_id}/imports/{kind}",
    responses={
        **answers(409, 415),
        422: {
            "description": "Bad rows; nothing was applied (the import's counts and `outcome: refused` in the problem)"
        },
    },
    openapi_extra=UPLOAD_BODY,
)
async def import_file(
    cohort_id: str,
    kind: ImportKind,
    request: Request,
    principal: Importer,
    once: Idempotent,
    accept_partial: bool = False,
    block: Annotated[
        str | None, Query(description="A block template's open block the file is for, when several take its kind")
    ] = None,
) -> ImportOutcome:
    """Check every row and apply all of them, or none if any is bad.

    With ``accept_partial`` the good rows are applied and the rejected ones can be
    downloaded from ``/api/v1/imports/{digest}/rejects`` (by this importer's prefecture
    or an administrator, for ``COHORTFLOW_REJECTS_KEEP_DAYS``). A coordinator's rows
    must all belong to their own prefecture.
    """
    return await imported(request, principal, cohort_id, kind, accept_partial=accept_partial, block=block, once=once)


async def imported(
    request: Request,
    principal: Principal,
    cohort_id: str,
    kind: ImportKind,
    *,
    accept_partial: bool = False,
    block: str | None = None,
    once: Once | None = None,
) -> ImportOutcome:
    """The request's uploaded file imported into the cohort, by the API's route and the console's form alike:
    saved under its digest (refused unread if of the wrong kind or size), checked and applied by the cohort's
    ``import_file`` Update with ``principal`` as the actor; rows refused raise ``RowsRefused``, nothing applied."""
    settings = request.app.state.settings
    await asyncio.to_thread(kept.sweep, settings.uploads, settings.rejects_keep_days)
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
    started = time.perf_counter()
    outcome: ImportOutcome = await send(handle, CohortCycleWorkflow.import_file, req, once=once)
    request.app.state.metrics.import_finished(kind, time.perf_counter() - started)
    return outcome


@router.get(
    "/imports/{digest}/rejects",
    response_class=FileResponse,
    responses={404: {"description": "None kept that you may see"}, 410: {"description": "Kept, but expired"}},
)
async def rejects(
    digest: str,
    request: Request,
    principal: Importer,
    import_id: Annotated[
        str | None, Query(description="Which import's rows (its answer's rejects_id); by default your latest")
    ] = None,
) -> Response:
    """The rows a partial import left out, each with its row number and reasons (CSV, UTF-8 with BOM).

    Only the import's own prefecture (a coordinator of it) or an administrator may have them; ID numbers are
    masked unless the role may read them, and cells a spreadsheet would run as formulas start with ``'``.
    """
    if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise LookupError(phrase("{digest} is not an upload digest", digest=repr(digest)))
    settings = request.app.state.settings
    uploads: Path = settings.uploads
    owners = [
        o
        for o in await asyncio.to_thread(kept.owners, uploads, digest)
        if o.visible_to(principal.prefecture_scope) and import_id in (None, o.import_id)
    ]
    if not owners:
        raise LookupError(phrase("no rejected rows are kept for upload {digest}", digest=digest))
    owner = owners[0]
    path = kept.rows_path(uploads, digest, owner.import_id)
    if kept.expired(owner, settings.rejects_keep_days) or not path.is_file():
        detail = phrase(
            "the rejected rows of upload {digest} have expired: they are kept {days} days; import the file again",
            digest=digest,
            days=f"{settings.rejects_keep_days:g}",
        )
        return problem(410, detail, request.url.path)
    filename = f"rejects-{digest[:12]}.csv"
    if principal.can(Permission.NATIONAL_IDS_READ):
        return FileResponse(path, media_type="text/csv", filename=filename)
    return StreamingResponse(
        _masked(path, principal),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _masked(path: Path, principal: Principal) -> Iterator[bytes]:
    """The kept rows with their ID numbers as ``principal`` may see them, as UTF-8 CSV with a BOM."""
    rows = kept.read_rows(path)
    header = next(rows, [])
    ids = [i for i, name in enumerate(header) if name == "national_id"]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        for i in ids:
            if i < len(row):
                row[i] = principal.show_id(row[i])
        writer.writerow(row)
        if out.tell() > 64 * 1024:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")
