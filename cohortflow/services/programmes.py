"""Programme templates as versioned records in the event store, shared by the API and the CLI.

Every submitted version is an event in the ``programmes`` stream, so versions
are as tamper-evident as everything else and a cohort's pinned version can be
traced to who submitted it and when. Versions are numbered 1, 2, 3… per
programme; a version, once recorded, never changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch
import yaml
from psycopg.types.json import Jsonb
from pydantic import BaseModel
from sqlalchemy import Integer, bindparam, cast, func, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB

from cohortflow.domain.events import Metadata, ProgrammeVersionSubmitted
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import ProgrammeKind
from cohortflow.domain.template import AnyTemplate, parse_any
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from cohortflow.store.sql import execute

STREAM = "programmes"
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class TemplateRefused(ValueError):
    """A template that cannot be read or recorded; the message says why."""


class UnsupportedTemplateType(TemplateRefused):
    """The body is neither JSON nor YAML."""


class ProgrammeVersion(BaseModel):
    programme_id: str
    version: int
    name: str
    digest: str
    submitted_at: datetime
    submitted_by: str


class Submitted(BaseModel):
    programme_id: str
    version: int
    digest: str
    duplicate: bool


@dataclass(frozen=True)
class _Recorded:
    info: ProgrammeVersion
    template: dict[str, Any]


def read_template(body: bytes, content_type: str) -> object:
    """Parse a JSON or YAML body; the error names the line and column."""
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateRefused(phrase("the template is not UTF-8 text (byte {byte})", byte=exc.start)) from None
    if media in JSON_TYPES:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateRefused(
                phrase(
                    "malformed JSON at line {line}, column {column}: {why}",
                    line=exc.lineno,
                    column=exc.colno,
                    why=exc.msg,
                )
            ) from None
    if media in YAML_TYPES:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            why = getattr(exc, "problem", exc)
            if mark is None:
                raise TemplateRefused(phrase("malformed YAML: {why}", why=why)) from None
            raise TemplateRefused(
                phrase(
                    "malformed YAML at line {line}, column {column}: {why}",
                    line=mark.line + 1,
                    column=mark.column + 1,
                    why=why,
                )
            ) from None
    raise UnsupportedTemplateType(
        phrase(
            "content type {media} is not a template; send application/json or application/yaml",
            media=media or phrase("(none)"),
        )
    )


async def submit(store: EventStore, programme: AnyTemplate, actor: str) -> Submitted:
    """Record ``programme`` as its next version; the same version again with the same content is a no-op."""
    everything = await _recorded(store)
    recorded = [r for r in everything if r.info.programme_id == programme.id]
    digest = programme.digest
    for r in recorded:
        if r.info.version == programme.version:
            if r.info.digest == digest:
                return Submitted(programme_id=programme.id, version=programme.version, digest=digest, duplicate=True)
            raise TemplateRefused(
                phrase(
                    "version {version} of {programme_id} already exists with other content; "
                    "submit the change as version {next}",
                    version=programme.version,
                    programme_id=programme.id,
                    next=len(recorded) + 1,
                )
            )
    if programme.version != len(recorded) + 1:
        raise TemplateRefused(
            phrase(
                "the next version of {programme_id} is {next}, not {version}",
                programme_id=programme.id,
                next=len(recorded) + 1,
                version=programme.version,
            )
        )
    event = ProgrammeVersionSubmitted(
        programme_id=programme.id,
        version=programme.version,
        digest=digest,
        template=programme.template(),
    )
    metadata = Metadata(
        actor=actor,
        workflow_id="",
        programme_id=programme.id,
        programme_version=programme.version,
        step=f"programme/{programme.id}/v{programme.version}",
    ).model_dump()
    await store.append(
        STREAM,
        [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)],
        idempotency_key=f"programmes/{programme.id}/v{programme.version}",
        # The stream holds only versions, so its length is its version: of two racing submissions
        # the store refuses the second.
        expected_version=len(everything),
    )
    return Submitted(programme_id=programme.id, version=programme.version, digest=digest, duplicate=False)


@dataclass(frozen=True)
class VersionFilter:
    """Which recorded versions a list holds: of one programme, of one kind, whose name holds some words, that
    take part of one prefecture."""

    programme_id: str | None = None
    kind: ProgrammeKind | None = None
    name: str | None = None
    prefecture_code: str | None = None


_e = t.events.c
_programme = _e.data["programme_id"].astext
_programme_order = _programme.collate("C")  # as bytes sort: as a cursor's programme id compares
_version = cast(_e.data["version"].astext, Integer)
_template = _e.data["template"]
_VERSIONS = (
    select(
        _programme,
        _version,
        _template["name"].astext,
        _e.data["digest"].astext,
        _e.recorded_at,
        _e.metadata["actor"].astext,
    )
    .where(_e.stream_id == STREAM, _e.type == ProgrammeVersionSubmitted.TYPE)
    .order_by(_programme_order, _version)
)
"""The versions by programme and version, as the stream records them (it is the programmes' only record)."""


async def version_list(
    store: EventStore, only: VersionFilter, *, after: tuple[str, int] | None = None, limit: int | None = None
) -> list[ProgrammeVersion]:
    """The recorded versions ``only`` names, by programme (as bytes sort, as a cursor compares) and version; at
    most ``limit`` after the (programme, version) ``after``."""
    statement = _VERSIONS
    params: dict[str, Any] = {}
    if only.programme_id is not None:
        statement = statement.where(_programme == bindparam("programme"))
        params["programme"] = only.programme_id
    if only.kind is not None:
        statement = statement.where(_template["kind"].astext == bindparam("kind"))
        params["kind"] = only.kind
    if only.name is not None:
        name = func.lower(_template["name"].astext)
        statement = statement.where(func.strpos(name, func.lower(bindparam("name"))) > 0)
        params["name"] = only.name
    if only.prefecture_code is not None:
        # ``@>`` is JSONB's: the stored json is cast (chain format 2 keeps the text as hashed).
        statement = statement.where(cast(_template["prefectures"], JSONB).contains(bindparam("prefecture")))
        params["prefecture"] = Jsonb([{"code": only.prefecture_code}])
    if after is not None:
        statement = statement.where(
            tuple_(_programme_order, _version) > tuple_(bindparam("after_id"), bindparam("after_version"))
        )
        params["after_id"], params["after_version"] = after
    if limit is not None:
        statement = statement.limit(bindparam("limit"))
        params["limit"] = limit
    async with store.pool.connection() as conn:
        rows = await (await execute(conn, statement, **params)).fetchall()
    return [ProgrammeVersion.model_validate(dict(zip(ProgrammeVersion.model_fields, row, strict=True))) for row in rows]


async def versions(store: EventStore, programme_id: str | None = None) -> list[ProgrammeVersion]:
    return [r.info for r in await _recorded(store) if programme_id in (None, r.info.programme_id)]


async def load(store: EventStore, programme_id: str, version: int) -> AnyTemplate:
    for r in await _recorded(store):
        if r.info.programme_id == programme_id and r.info.version == version:
            return parse_any(r.template)
    raise LookupError(
        phrase("programme {programme_id} has no version {version}", programme_id=programme_id, version=version)
    )


async def diff(store: EventStore, programme_id: str, old: int, new: int) -> list[dict[str, Any]]:
    """The change from version ``old`` to ``new`` as JSON Patch operations (RFC 6902)."""
    before, after = await load(store, programme_id, old), await load(store, programme_id, new)
    patch = jsonpatch.make_patch(before.template(), after.template())
    return list(patch)


async def _recorded(store: EventStore) -> list[_Recorded]:
    """Every recorded version; programmes are few, so the stream is read whole."""
    return [
        _Recorded(
            ProgrammeVersion(
                programme_id=e.data["programme_id"],
                version=e.data["version"],
                name=e.data["template"]["name"],
                digest=e.data["digest"],
                submitted_at=e.recorded_at,
                submitted_by=e.metadata["actor"],
            ),
            e.data["template"],
        )
        async for e in store.read_stream(STREAM)
    ]
