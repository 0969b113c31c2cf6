"""The auditor's console pages (``audit:read``): the store's digest to write down, the history verified against a
digest pasted back, and a bundle to download and check offline.

Each question is asked of the same code as the API's and the CLI's (``cohortflow.audit``) and recorded in the
history as they record it, the signed-in account its actor; that record is all these pages ever append. The verify
form is a POST with the form token because the API's verify is a POST; the rest are GETs, as the API's are.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.audit import standalone_verifier
from cohortflow.audit.bundle import write_bundle
from cohortflow.audit.journal import record_query, record_verification
from cohortflow.audit.verify import ExportedDigest, ForeignDigest, export_digest, verify_cohort, verify_store
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.store.eventstore import EventStore

router = APIRouter(prefix="/console", include_in_schema=False)
Auditor = Annotated[Session, allowed(Permission.AUDIT_READ)]
CohortId = Annotated[str, Form(max_length=200)]
HASH = re.compile(r"[0-9a-f]{64}")
"""A chain hash as the store writes it: SHA-256 in lower-case hex."""
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _shown(request: Request, session: Session, status_code: int = 200, **more: Any) -> HTMLResponse:
    return page(request, "audit.html", status_code, principal=session.principal, csrf=session.csrf, **more)


@router.get("/audit")
async def audit_page(request: Request, session: Auditor) -> HTMLResponse:
    """The digest is asked for afresh on each visit, and recorded as ``cohortflow audit digest`` records it."""
    store = _store(request)
    exported = await export_digest(store, datetime.now(UTC))
    await record_query(store, session.principal.actor, "digest", {}, f"position {exported.position}")
    return _shown(request, session, exported=exported, digest_text=exported.model_dump_json(indent=2))


def _digest_sent(request: Request, text: str) -> tuple[ExportedDigest | None, str | None]:
    """The pasted digest, or the reader's problem with it; nothing pasted, no digest (the chain alone is checked)."""
    if not text.strip():
        return None, None
    try:
        digest = ExportedDigest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        problem = say(request, "This is not a digest exported by cohortflow (store_id, position, hash, times).")
        return None, f"{problem} ({where}: {first['msg']})" if where else f"{problem} ({first['msg']})"
    if not HASH.fullmatch(digest.hash) or digest.position < 0:
        return None, say(request, "The digest's hash is not 64 hexadecimal digits, or its position is negative.")
    return digest, None


@router.post("/audit/verify")
async def verify(
    request: Request, session: Auditor, digest: Annotated[str, Form(max_length=5000)] = "", cohort: CohortId = ""
) -> HTMLResponse:
    await form_token(request, session)
    store, cohort = _store(request), cohort.strip()
    sent = {"digest": digest, "cohort": cohort}
    expected, digest_problem = _digest_sent(request, digest)
    if digest_problem:
        return _shown(request, session, 422, problems={"digest": digest_problem}, sent=sent)
    try:
        report = await (verify_store(store, expected) if not cohort else verify_cohort(store, cohort, expected))
    except ForeignDigest as exc:
        problem = say(request, "This digest was exported from another store.") + f" ({exc})"
        return _shown(request, session, 422, problems={"digest": problem}, sent=sent)
    except LookupError:
        return _shown(request, session, 404, problems={"cohort": say(request, "No such cohort.")}, sent=sent)
    await record_verification(store, session.principal.actor, {"cohort": cohort}, report)
    # Against the whole store, how far the history has grown since the digest (the events after it are new, the
    # ones before it unchanged when the report is intact).
    later = report.head_position - expected.position if expected and not cohort else None
    return _shown(request, session, report=report, expected=expected, later=later, sent=sent)


@router.get("/audit/bundle", response_model=None)
async def bundle(
    request: Request, session: Auditor, cohort: Annotated[str, Query(max_length=200)] = ""
) -> FileResponse | HTMLResponse:
    """The bundle is written to a temporary file by the CLI's own code, sent, then removed."""
    store, cohort = _store(request), cohort.strip()
    folder = Path(tempfile.mkdtemp(prefix="cohortflow-bundle-"))
    now = datetime.now(UTC)
    named = UNSAFE.sub("_", cohort) or "all"  # the file's name, whatever was typed
    name = f"cohortflow-{named}-{now.astimezone(PROVINCE_ZONE):%Y%m%d-%H%M%S}.jsonl"
    try:
        summary = await write_bundle(store, folder / name, now, cohort or None)
    except LookupError:
        shutil.rmtree(folder, ignore_errors=True)
        problems = {"bundle-cohort": say(request, "No such cohort.")}
        return _shown(request, session, 404, problems=problems, sent={"bundle-cohort": cohort})
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    params = {"cohort": cohort, "out": name}
    await record_query(store, session.principal.actor, "bundle", params, f"{summary.events}")
    return FileResponse(
        folder / name,
        media_type="application/x-ndjson",
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get("/audit/standalone_verifier.py")
async def verifier(session: Auditor) -> FileResponse:
    """The offline checker itself (the standard library only), for the auditor to read and run elsewhere."""
    return FileResponse(standalone_verifier.__file__, media_type="text/x-python", filename="standalone_verifier.py")
