"""/api/v1/programmes: submit, validate, list and compare template versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept
from cohortflow.api.pages import NEXT_LINK, Key, Page, Paged
from cohortflow.api.problems import answers
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import ProgrammeKind
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate, parse_any
from cohortflow.services import programmes

router = APIRouter(prefix="/api/v1/programmes", tags=["programmes"], route_class=AnswersKept)
TEMPLATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Programme"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


class Validated(BaseModel):
    valid: bool
    programme_id: str
    version: int
    digest: str


async def _body(request: Request) -> object:
    body = await request.body()  # held to the body limit by the request guard
    return programmes.read_template(body, request.headers.get("content-type", ""))


@router.post("/validate", openapi_extra=TEMPLATE_BODY, responses=answers(415))
async def validate(
    request: Request, _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))]
) -> Validated:
    """Check a template, of blocks or of the seven phases, without saving it; every problem is listed at once (422)."""
    template = parse_any(await _body(request))
    return Validated(valid=True, programme_id=template.id, version=template.version, digest=template.digest)


@router.post("", status_code=201, openapi_extra=TEMPLATE_BODY, responses=answers(409, 415))
async def submit(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.PROGRAMMES_WRITE))], _: AnsweredOnce
) -> programmes.Submitted:
    """Record a template version (JSON or YAML). Versions are numbered 1, 2, 3… and never change."""
    programme = parse_any(await _body(request))
    return await programmes.submit(request.app.state.store, programme, principal.actor)


@router.get("/schema")
async def schema(_: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))]) -> dict[str, Any]:
    """The JSON Schema of a block template (``stages`` of typed blocks, tracks, years)."""
    return ProgrammeTemplate.model_json_schema()


def _version_key(found: programmes.ProgrammeVersion) -> Key:
    return (found.programme_id, found.version)


async def _versions(request: Request, page: Page, only: programmes.VersionFilter) -> list[programmes.ProgrammeVersion]:
    after = page.after(str, int)
    found = await programmes.version_list(
        request.app.state.store,
        only,
        after=None if after is None else (str(after[0]), int(after[1])),
        limit=page.limit + 1,
    )
    return page.answer(found, _version_key)


@router.get("", responses={200: {"headers": NEXT_LINK}})
async def list_versions(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
    page: Paged,
    kind: Annotated[ProgrammeKind | None, Query(description="Only programmes of this kind")] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Only programmes whose name holds these words")
    ] = None,
    prefecture: Annotated[
        str | None,
        Query(pattern=r"^\d{6}$", description="Only programmes this prefecture (a division code) takes part in"),
    ] = None,
) -> list[programmes.ProgrammeVersion]:
    """Every recorded version of every programme (of a kind, by part of its name, of a prefecture), by programme
    and version, a page at a time."""
    only = programmes.VersionFilter(kind=kind, name=name, prefecture_code=prefecture)
    return await _versions(request, page, only)


@router.get("/{programme_id}/versions", responses={200: {"headers": NEXT_LINK}})
async def programme_versions(
    programme_id: str,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
    page: Paged,
) -> list[programmes.ProgrammeVersion]:
    """The programme's recorded versions, a page at a time."""
    found = await _versions(request, page, programmes.VersionFilter(programme_id=programme_id))
    if not found and page.cursor is None:
        raise LookupError(phrase("programme {programme_id} has no versions", programme_id=programme_id))
    return found


@router.get("/{programme_id}/versions/{version}")
async def show_version(
    programme_id: str,
    version: int,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
) -> AnyTemplate:
    return await programmes.load(request.app.state.store, programme_id, version)


@router.get("/{programme_id}/diff")
async def diff(
    programme_id: str,
    old: int,
    new: int,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
) -> list[dict[str, Any]]:
    """What changed from version ``old`` to ``new``, as JSON Patch operations (RFC 6902)."""
    return await programmes.diff(request.app.state.store, programme_id, old, new)
