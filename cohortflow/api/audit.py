"""Read-only audit endpoints; each question is recorded in the history like the CLI's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.pages import bad_request
from cohortflow.api.problems import answers
from cohortflow.audit.as_of import ParticipantAsOf, participant_as_of
from cohortflow.audit.journal import record_query, record_verification
from cohortflow.audit.selection_replay import SelectionReplay, replay_selection
from cohortflow.audit.verify import (
    ChainReport,
    ExportedDigest,
    ForeignDigest,
    export_digest,
    verify_cohort,
    verify_store,
)
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.cohort_summary import CohortSummary, cohort_summary
from cohortflow.store.eventstore import EventStore

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _refuse(exc: Exception) -> HTTPException:
    status = 404 if isinstance(exc, LookupError) else 422
    return HTTPException(status_code=status, detail=str(exc))


@router.get("/digest")
async def digest(request: Request, principal: Auditor) -> ExportedDigest:
    store = _store(request)
    exported = await export_digest(store, datetime.now(UTC))
    await record_query(store, principal.actor, "digest", {}, f"position {exported.position}")
    return exported


@router.post("/verify", responses=answers(404))
async def verify(
    request: Request, principal: Auditor, expected: ExportedDigest | None = None, cohort: str | None = None
) -> dict[str, Any]:
    store = _store(request)
    try:
        report: ChainReport = await (
            verify_store(store, expected) if cohort is None else verify_cohort(store, cohort, expected)
        )
    except (ForeignDigest, LookupError) as exc:
        raise _refuse(exc) from None
    await record_verification(store, principal.actor, {"cohort": cohort or ""}, report)
    return report.model_dump(mode="json") | {"ok": report.ok}


@router.get("/cohorts/{cohort_id}/selection-replay")
async def selection_replay(cohort_id: str, request: Request, principal: Auditor) -> SelectionReplay:
    store = _store(request)
    try:
        result = await replay_selection(store, cohort_id)
    except LookupError as exc:
        raise _refuse(exc) from None
    await record_query(
        store, principal.actor, "selection", {"cohort": cohort_id}, "identical" if result.identical else "differs"
    )
    return result


@router.get("/cohorts/{cohort_id}/as-of")
async def as_of(
    cohort_id: str,
    request: Request,
    principal: Auditor,
    at: datetime = Query(description="ISO date and time with its zone"),  # noqa: B008
    participant: str | None = None,
) -> CohortSummary | ParticipantAsOf:
    store = _store(request)
    if at.tzinfo is None:  # a query parameter the route cannot take, as a malformed one: 400
        raise bad_request(phrase("give the moment with its time zone, e.g. 2024-05-01T12:00:00+08:00"))
    try:
        state: CohortSummary | ParticipantAsOf = (
            await cohort_summary(store, cohort_id, as_of=at)
            if participant is None
            else await participant_as_of(store, cohort_id, participant, at)
        )
    except (LookupError, ValueError) as exc:
        raise _refuse(exc) from None
    params = {"cohort": cohort_id, "participant": participant or "", "at": at.isoformat()}
    await record_query(store, principal.actor, "as-of", params, "ok")
    return state
