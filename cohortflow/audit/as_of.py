"""State as of a past moment: what the store knew about a participant or a cohort then.

Only events recorded at or before the moment count, read under the programme
version the cohort was pinned to; the answer lists the events it was built from.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.completion import CRITERIA
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import (
    CreditAwarded,
    CreditReversed,
    ParticipantCompleted,
    PhaseClosed,
    PhaseOpened,
    SelectionDecided,
)
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent

COHORT_LEVEL = ("CohortStarted", "PhaseOpened", "PhaseClosed", "DeadlineExtended", "SelectionDecided")


class EventRef(BaseModel):
    position: int
    type: str
    recorded_at: datetime


class ParticipantAsOf(BaseModel):
    cohort_id: str
    participant_id: str
    at: datetime
    programme_id: str
    programme_version: int
    phase: str | None
    phase_open: bool
    prefecture_code: str
    hours: float
    deliverables: list[str]
    selection: str
    withdrawn: bool
    placement: str | None
    attendance: str | None
    return_report: bool
    surveys_answered: list[str]
    credits: dict[str, float]
    credit_hours: float
    completed: bool
    requirements_met: list[str]
    events: list[EventRef]


async def participant_as_of(store: EventStore, cohort_id: str, participant_id: str, at: datetime) -> ParticipantAsOf:
    programme, known = await _known_at(store, cohort_id, at, participant_id)
    facts = CohortFacts()
    phase, phase_open, decided = None, False, False
    credits: dict[str, float] = {}
    completed = False
    used: list[EventRef] = []
    for stored in known:
        event = decode(stored.type, stored.schema_version, stored.data)
        mine = participant_id in (getattr(event, "participant_id", None), getattr(event, "replaces", None))
        if stored.type in COHORT_LEVEL or mine:
            used.append(EventRef(position=stored.position, type=stored.type, recorded_at=stored.recorded_at))
        facts.apply_event(event, stored.position)
        match event:
            case PhaseOpened() | PhaseClosed():
                phase, phase_open = event.phase, isinstance(event, PhaseOpened)
            case SelectionDecided():
                decided = True
            case CreditAwarded() if mine:
                credits[event.phase] = round(credits.get(event.phase, 0.0) + event.hours, 6)
            case CreditReversed() if mine:
                credits["reversal"] = round(credits.get("reversal", 0.0) + event.hours, 6)
            case ParticipantCompleted() if mine:
                completed = True
    p = facts.participants.get(participant_id)
    if p is None:
        raise LookupError(
            phrase(
                "participant {participant_id} was not in cohort {cohort_id} at {at}",
                participant_id=participant_id,
                cohort_id=cohort_id,
                at=at.isoformat(),
            )
        )
    if participant_id in facts.selected:
        selection = "selected"
    elif participant_id in facts.waiting_list:
        selection = "waiting list"
    else:
        selection = "not selected" if decided else "not decided yet"
    met = [phase for phase, criterion in CRITERIA.items() if criterion(p, facts, programme) is not None]
    return ParticipantAsOf(
        cohort_id=cohort_id,
        participant_id=participant_id,
        at=at,
        programme_id=programme.id,
        programme_version=programme.version,
        phase=phase,
        phase_open=phase_open,
        prefecture_code=p.prefecture_code,
        hours=p.hours,
        deliverables=list(p.deliverables),
        selection=selection,
        withdrawn=p.withdrawn,
        placement=f"{p.site}/{p.batch}" if p.site else None,
        attendance=f"{p.days_present}/{p.days_total} days" if p.attendance_position else None,
        return_report=p.return_report_position is not None,
        surveys_answered=sorted(p.surveys),
        credits=credits,
        credit_hours=round(sum(credits.values()), 6),
        completed=completed,
        requirements_met=met,
        events=used,
    )


async def _known_at(
    store: EventStore, cohort_id: str, at: datetime, participant_id: str
) -> tuple[Programme, list[StoredEvent]]:
    if at.tzinfo is None:
        raise ValueError(phrase("give the moment with its time zone, e.g. 2024-05-01T12:00:00+08:00"))
    stream = cohort_stream(cohort_id)
    start = await store.first_event(stream)
    if start is None or start.type != "CohortStarted":
        raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
    if start.recorded_at > at:
        raise LookupError(
            phrase(
                "cohort {cohort_id} did not exist yet at {at}; it was started at {started}",
                cohort_id=cohort_id,
                at=at.isoformat(),
                started=start.recorded_at.isoformat(),
            )
        )
    # This person's events and the cohort's own: one index range each (see migration 0003).
    known = await store.read_participant(stream, participant_id, at)
    return Programme.model_validate(start.data["programme"]), known
