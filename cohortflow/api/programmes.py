"""/api/v1/programmes: submit, validate, list and compare template versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept
from cohortflow.api.pages import NEXT_LINK, Key, Paged
from cohortflow.api.problems import answers
from cohortflow.domain.phrases import phrase
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


@router.get("", responses={200: {"headers": NEXT_LINK}})
async def list_versions(
    request: Request, _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))], page: Paged
) -> list[programmes.ProgrammeVersion]:
    """Every recorded version of every programme, by programme and version, a page at a time."""
    found = sorted(await programmes.versions(request.app.state.store), key=_version_key)
    return page.of(found, _version_key, str, int)


@router.get("/{programme_id}/versions", responses={200: {"headers": NEXT_LINK}})
async def programme_versions(
    programme_id: str,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
    page: Paged,
) -> list[programmes.ProgrammeVersion]:
    found = sorted(await programmes.versions(request.app.state.store, programme_id), key=_version_key)
    if not found:
        raise LookupError(phrase("programme {programme_id} has no versions", programme_id=programme_id))
    return page.of(found, _version_key, str, int)


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
