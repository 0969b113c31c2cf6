"""Read models over HTTP: cohorts, funnels, participants, timelines, credits and exports.

Reads come from the projections (``rm_`` tables), kept current by the app's
projector; every answer is scoped to a coordinator's own prefecture and shows
ID numbers masked, and person keys not at all, unless the caller's role may see
them (``Principal.shown``).

The busiest reads (cohorts, funnels, participants, timelines) check the token and
read on one autocommit connection (``Viewer``), and the funnel and the timeline
answer with JSON they have serialised themselves: FastAPI would otherwise check
each answer against its model again and then serialise it, for the same bytes.
Their OpenAPI description is the same either way (``response_model``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import Reading, reading, require
from cohortflow.api.id_search import ID_SEARCH, id_search
from cohortflow.api.pages import NEXT_LINK, Key, Paged, bad_request, instant, microseconds
from cohortflow.api.problems import answers
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.funding import FundingReport, funding
from cohortflow.domain.phrases import phrase
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.cohort_facts import cohort_facts, pinned_template
from cohortflow.readmodels.credits import CreditStatement, credit_statement
from cohortflow.readmodels.exports import COLUMNS, TITLES, ExportKind, csv_chunks, export_rows, write_xlsx
from cohortflow.readmodels.queries import (
    CohortFilter,
    CohortRow,
    Funnel,
    ParticipantRow,
    ParticipantSearch,
    Source,
    cohort_funnel,
    list_cohorts,
    participant,
    search_participants,
)
from cohortflow.readmodels.timeline import Timeline, participant_timeline
from cohortflow.store.eventstore import EventStore

router = APIRouter(prefix="/api/v1/cohorts", tags=["read models"])
Reader = Annotated[Principal, Depends(require(Permission.COHORTS_READ))]
Viewer = Annotated[Reading, Depends(reading(Permission.COHORTS_READ), scope="function")]
Exporter = Annotated[Principal, Depends(require(Permission.EXPORTS_READ))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON = "application/json"
STATES = {"running": False, "completed": True}
"""The cohort list's ``state`` filter: whether a cohort has completed."""


@dataclass(frozen=True, slots=True)
class CachedFunnel:
    """A funnel and its JSON, answered as long as the read models stay at its position."""

    funnel: Funnel
    body: bytes


def _json(answer: BaseModel) -> bytes:
    """The model as JSON, byte for byte what FastAPI would have sent for it (compact, UTF-8)."""
    return answer.__pydantic_serializer__.to_json(answer)


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


async def _participant(source: Source, principal: Principal, cohort_id: str, participant_id: str) -> ParticipantRow:
    found = await participant(source, cohort_id, participant_id, principal.prefecture_scope)
    if found is None:
        raise LookupError(
            phrase(
                "participant {participant_id} is not in cohort {cohort_id} (or not in your prefecture)",
                participant_id=participant_id,
                cohort_id=cohort_id,
            )
        )
    return found


def _cohort_key(row: CohortRow) -> Key:
    return (microseconds(row.started_at), row.cohort_id)


@router.get("", responses={200: {"headers": NEXT_LINK}})
async def cohorts(
    reader: Viewer,
    page: Paged,
    programme_id: Annotated[str | None, Query(description="Only cohorts of this programme")] = None,
    phase: Annotated[str | None, Query(description="Only cohorts in this phase (or block), open or closed")] = None,
    state: Annotated[Literal["running", "completed"] | None, Query(description="Running or completed")] = None,
) -> list[CohortRow]:
    """The cohorts, oldest first, with their counts scoped to the caller's prefecture; a page at a time."""
    after = page.after(int, str)
    start = None if after is None else (instant(after[0]), str(after[1]))
    only = CohortFilter(programme_id=programme_id, phase=phase, completed=None if state is None else STATES[state])
    found = await list_cohorts(
        reader.conn, reader.principal.prefecture_scope, only=only, after=start, limit=page.limit + 1
    )
    return page.answer(found, _cohort_key)


@router.get("/{cohort_id}/participants", responses={200: {"headers": NEXT_LINK}})
async def find_participants(
    cohort_id: str,
    reader: Viewer,
    page: Paged,
    name: Annotated[str | None, Query(description="Part of the name")] = None,
    school: Annotated[str | None, Query(description="Part of the school's name")] = None,
    national_id: Annotated[str | None, Query(description=ID_SEARCH)] = None,
) -> list[ParticipantRow]:
    """The cohort's participants (a coordinator's own prefecture's only) by name, school or ID number, by id."""
    principal = reader.principal
    try:
        search = ParticipantSearch(name=name, school=school, **id_search(national_id, principal))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    after = page.after(str)
    found = await search_participants(
        reader.conn,
        cohort_id,
        search,
        principal.prefecture_scope,
        after=None if after is None else str(after[0]),
        limit=page.limit + 1,
    )
    shown = [row.model_copy(update=principal.shown(dict(row))) for row in found]
    return page.answer(shown, lambda row: (row.participant_id,))


@router.get("/{cohort_id}/funnel", response_model=Funnel)
async def funnel(cohort_id: str, request: Request, reader: Viewer) -> Response:
    """How many people reached each step, in total and per prefecture."""
    # Funnels change only when the projector moves on: one answer per position is enough.
    cache: dict[tuple[str, str | None], CachedFunnel] = request.app.state.funnels
    key = (cohort_id, reader.principal.prefecture_scope)
    cached = cache.get(key)
    if cached is None or cached.funnel.projected_to != request.app.state.projected_to:
        answer = await cohort_funnel(reader.conn, cohort_id, key[1])
        cached = cache[key] = CachedFunnel(answer, _json(answer))
    return Response(cached.body, media_type=JSON)


@router.get("/{cohort_id}/participants/{participant_id}")
async def show_participant(cohort_id: str, participant_id: str, reader: Viewer) -> ParticipantRow:
    principal = reader.principal
    found = await _participant(reader.conn, principal, cohort_id, participant_id)
    return found.model_copy(update=principal.shown(dict(found)))


@router.get("/{cohort_id}/participants/{participant_id}/timeline", response_model=Timeline)
async def timeline(cohort_id: str, participant_id: str, reader: Viewer) -> Response:
    """Every recorded event about the participant, in order, with who caused it."""
    principal = reader.principal
    if principal.prefecture_scope is not None:  # the timeline itself knows no prefectures
        await _participant(reader.conn, principal, cohort_id, participant_id)
    found = await participant_timeline(reader.conn, cohort_id, participant_id)
    for entry in found.entries:
        entry.data.update(principal.shown(entry.data))
    return Response(_json(found), media_type=JSON)


@router.get("/{cohort_id}/participants/{participant_id}/credits")
async def credits(cohort_id: str, participant_id: str, request: Request, principal: Reader) -> CreditStatement:
    """The person's credit ledger across cohorts: every hour with its source, and the 5-year cycle's total."""
    # Not a Viewer: the statement borrows a connection of its own, and a request holding two could wait
    # forever for the second once every connection is held by a request waiting the same way.
    found = await _participant(_store(request).pool, principal, cohort_id, participant_id)
    assert found.person_key is not None, "the read models hold every participant's key"
    statement = await credit_statement(_store(request).pool, found.person_key, today=datetime.now(PROVINCE_ZONE).date())
    return statement.model_copy(update=principal.shown(dict(statement)))


@router.get(
    "/{cohort_id}/exports/{kind}",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def export(
    cohort_id: str,
    kind: ExportKind,
    request: Request,
    principal: Exporter,
    format: Literal["csv", "xlsx"] = "csv",
) -> Any:
    """A list as CSV (UTF-8 with BOM, streamed) or XLSX; ID numbers masked unless the role may see them."""
    pool = _store(request).pool
    await cohort_funnel(pool, cohort_id, principal.prefecture_scope)  # 404 before any bytes are sent
    rows = export_rows(pool, kind, cohort_id, principal.prefecture_scope)
    mask = not principal.can(Permission.NATIONAL_IDS_READ)
    name = f"{cohort_id}-{kind}.{format}"
    if format == "csv":
        chunks: AsyncIterator[bytes] = csv_chunks(rows, COLUMNS[kind], mask_ids=mask)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
    fd, tmp = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)  # openpyxl writes the file itself
    path = Path(tmp)
    await write_xlsx(rows, COLUMNS[kind], path, mask_ids=mask, title=TITLES[kind])
    return FileResponse(path, media_type=XLSX, filename=name, background=BackgroundTask(path.unlink))


@router.get("/{cohort_id}/funding", responses=answers(409))
async def funding_report(cohort_id: str, request: Request, principal: Reader) -> FundingReport:
    """Each block's funding lines (who pays for what) with the people they are paid for; a coordinator's own."""
    store: EventStore = request.app.state.store
    template = await pinned_template(store, cohort_id)
    if not isinstance(template, ProgrammeTemplate):
        raise CommandRefused(
            phrase("cohort {cohort_id} runs the seven-phase form, which has no funding lines", cohort_id=cohort_id)
        )
    return funding(cohort_id, template, await cohort_facts(store, cohort_id), principal.prefecture_scope)
