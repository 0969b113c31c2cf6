"""Programmes: every recorded template version, one version as a timeline of its stages, the change between two
versions, and a form checking or recording a new version.

Reading, checking and recording go through the API's own path (``services.programmes``: ``read_template``,
``parse_any``, ``submit``, ``diff``), so a template refused here is refused there for the same reasons, every
problem listed at once, and the recorded actor is the signed-in account. A template file is held to the API's
body limit and to the kinds the API reads (YAML or JSON), both refused before the file is read.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import PurePath
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.api.errors import BodyTooLarge, UnsupportedUpload
from cohortflow.console.programme_changes import changes
from cohortflow.console.programme_view import timeline
from cohortflow.console.rendering import not_found, page, said, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.programme import ProgrammeInvalid
from cohortflow.domain.template import AnyTemplate, parse_any
from cohortflow.services import programmes
from cohortflow.store.errors import StoreError

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.PROGRAMMES_READ)]
Writer = Annotated[Session, allowed(Permission.PROGRAMMES_WRITE)]
MEDIA = {".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json"}
"""The template files the form takes, by name, as the media types ``services.programmes.read_template`` reads."""
NOTICES = ("recorded", "unchanged")
"""What the version's page says after the form recorded it (or found it recorded already)."""
FILE, TEXT = "file", "text"
log = structlog.get_logger("cohortflow.console")


@router.get("/programmes")
async def programmes_page(request: Request, session: Reader) -> HTMLResponse:
    found = await programmes.versions(request.app.state.store)
    found.sort(key=lambda v: (v.programme_id, -v.version))
    groups = [list(versions) for _, versions in groupby(found, key=lambda v: v.programme_id)]
    groups.sort(key=lambda versions: versions[0].submitted_at, reverse=True)  # the last changed first
    return page(request, "programmes.html", principal=session.principal, csrf=session.csrf, groups=groups)


def _missing(request: Request, session: Session) -> HTMLResponse:
    return not_found(request, session, say(request, "This programme has no such version."))


@router.get("/programmes/{programme_id}/versions/{version}")
async def version_page(
    request: Request, session: Reader, programme_id: str, version: str, notice: str = ""
) -> HTMLResponse:
    return await shown_version(request, session, programme_id, version, notice=notice if notice in NOTICES else "")


async def shown_version(
    request: Request, session: Session, programme_id: str, version: str, status_code: int = 200, **more: object
) -> HTMLResponse:
    """The version's page; ``more`` for its template (a notice, or the start form's problems)."""
    store = request.app.state.store
    recorded = await programmes.versions(store, programme_id)
    info = next((v for v in recorded if str(v.version) == version), None)
    if info is None:
        return _missing(request, session)
    template = await programmes.load(store, programme_id, info.version)
    return page(
        request,
        "programme.html",
        status_code,
        principal=session.principal,
        csrf=session.csrf,
        info=info,
        programme=template,
        timeline=timeline(template),
        versions=sorted((v.version for v in recorded), reverse=True),
        **more,
    )


@router.get("/programmes/{programme_id}/compare")
async def compare_page(
    request: Request, session: Reader, programme_id: str, old: str = "", new: str = ""
) -> HTMLResponse:
    store = request.app.state.store
    if not (old.isdigit() and new.isdigit()):
        return _missing(request, session)
    try:
        patch = await programmes.diff(store, programme_id, int(old), int(new))
        before = await programmes.load(store, programme_id, int(old))
    except LookupError:
        return _missing(request, session)
    return page(
        request,
        "programme_compare.html",
        principal=session.principal,
        csrf=session.csrf,
        programme_id=programme_id,
        name=before.name,
        old=int(old),
        new=int(new),
        changes=changes(before.template(), patch),
    )


def _form(request: Request, session: Session, status_code: int = 200, **more: object) -> HTMLResponse:
    return page(request, "programme_new.html", status_code, principal=session.principal, csrf=session.csrf, **more)


@router.get("/programmes/new")
async def new_page(request: Request, session: Writer) -> HTMLResponse:
    return _form(request, session)


def _limit(request: Request) -> int:
    """The largest template, as the API takes one (its body limit)."""
    return int(request.app.state.settings.max_body_bytes)


def _too_big(request: Request, session: Session) -> HTMLResponse:
    said = say(request, "A template is at most {limit} bytes; this one is larger.").format(limit=f"{_limit(request):,}")
    return _form(request, session, 413, problem=said)


async def _sent(request: Request) -> tuple[bytes, str]:
    """The template's bytes and media type: the file when one was chosen, else the pasted text.

    A file of another kind, or larger than the API takes a template, is refused before its bytes are read.
    """
    limit = _limit(request)
    form = await request.form()
    upload = form.get(FILE)
    if isinstance(upload, UploadFile) and upload.filename:
        media = MEDIA.get(PurePath(upload.filename).suffix.lower())
        if media is None:
            raise UnsupportedUpload(upload.filename)
        if upload.size is not None and upload.size > limit:
            raise BodyTooLarge(upload.filename)
        return await upload.read(), media
    text = str(form.get(TEXT) or "")
    # Pasted text has no name to tell its kind: JSON is an object, and YAML reads the rest.
    return text.encode(), MEDIA[".json" if text.lstrip().startswith("{") else ".yaml"]


def _located(request: Request, problem: str) -> tuple[str, str]:
    """A template's problem as (where, why) in the reader's language: the checks name the place first, before
    ': ' (``stages.1.code``, ``track principals``, ``block placement (placement)``); a problem of the whole
    template names none. The place is found in the English; its words are said, and the reason is what the
    whole problem says after them."""
    where, colon, _ = problem.partition(": ")
    whole = said(request, problem)
    if not colon:
        return "", whole
    place = said(request, where)
    return (place, whole.removeprefix(place).lstrip(":： ")) if whole.startswith(place) else ("", whole)


@router.post("/programmes/new")
async def check_or_record(request: Request, session: Writer) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _limit(request):  # the whole form, before a byte of it is read
        return _too_big(request, session)
    await form_token(request, session)
    action = str((await request.form()).get("action", "check"))
    try:
        body, media = await _sent(request)
    except UnsupportedUpload:
        wrong_kind = say(request, "A template file is YAML (.yaml, .yml) or JSON (.json).")
        return _form(request, session, 415, problem=wrong_kind)
    except BodyTooLarge:
        return _too_big(request, session)
    text = body.decode("utf-8", errors="replace")  # kept in the form, to be corrected there
    if not text.strip():
        return _form(request, session, 422, problem=say(request, "Choose a file or paste the template."))
    try:
        template = parse_any(programmes.read_template(body, media))
    except ProgrammeInvalid as exc:
        return _form(request, session, 422, text=text, problems=[_located(request, p) for p in exc.problems])
    except programmes.TemplateRefused as exc:
        return _form(request, session, 422, text=text, problems=[_located(request, str(exc))])
    if action != "record":
        return _form(request, session, text=text, valid=template, timeline=timeline(template))
    return await _record(request, session, template, text)


async def _record(request: Request, session: Session, template: AnyTemplate, text: str) -> Response:
    try:
        submitted = await programmes.submit(request.app.state.store, template, session.principal.actor)
    except (programmes.TemplateRefused, StoreError) as exc:  # a version taken by other content, or a race
        return _form(request, session, 409, text=text, problem=str(exc))
    notice = "unchanged" if submitted.duplicate else "recorded"
    log.info(
        "console programme version " + notice,
        programme=submitted.programme_id,
        version=submitted.version,
        by=session.principal.actor,
    )
    where = f"/console/programmes/{quote(submitted.programme_id, safe='')}/versions/{submitted.version}?notice={notice}"
    return RedirectResponse(where, status_code=303)
