"""A cohort's funnel, per phase and per prefecture, and its credits: what the demo prints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.completion import attended_field_study, met_online_requirement
from cohortflow.domain.events import CreditAwarded, CreditReversed
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.ledger import Ledger
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.store.eventstore import EventStore

FUNNEL_STEPS = ("nominated", "met_online_requirement", "selected", "attended_field_study", "completed")


class PrefectureFunnel(BaseModel):
    code: str
    name: str
    counts: dict[str, int]


class CohortSummary(BaseModel):
    cohort_id: str
    programme_id: str
    programme_version: int
    funnel: dict[str, int]
    prefectures: list[PrefectureFunnel]
    withdrawn: int
    credit_hours: float
    credit_hours_by_level: dict[str, float]
    credit_entries: int
    events: int
    selection_digest: str | None
    phase: str | None


async def cohort_summary(store: EventStore, cohort_id: str, as_of: datetime | None = None) -> CohortSummary:
    """The summary from every event of the cohort, or only those recorded by ``as_of``."""
    stream = cohort_stream(cohort_id)
    facts = CohortFacts()
    programme: Programme | None = None
    credit_events: list[CreditAwarded | CreditReversed] = []
    completed: set[str] = set()
    events = 0
    selection_digest = None
    phase: str | None = None
    async for event in store.read_stream(stream):
        if as_of is not None and event.recorded_at > as_of:
            continue
        events += 1
        facts.apply(event)
        if event.type == "CohortStarted":
            programme = Programme.model_validate(event.data["programme"])
        elif event.type == "CreditAwarded":
            credit_events.append(CreditAwarded.model_validate(event.data))
        elif event.type == "CreditReversed":
            credit_events.append(CreditReversed.model_validate(event.data))
        elif event.type == "ParticipantCompleted":
            completed.add(event.data["participant_id"])
        elif event.type == "SelectionDecided":
            selection_digest = event.data["input_digest"]
        elif event.type in ("PhaseOpened", "PhaseClosed"):
            phase = event.data["phase"] if event.type == "PhaseOpened" else f"{event.data['phase']} (closed)"
    if programme is None:
        if as_of is not None and await store.stream_version(stream) > 0:
            raise LookupError(
                phrase("cohort {cohort_id} did not exist yet at {at}", cohort_id=cohort_id, at=as_of.isoformat())
            )
        raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
    selected = set(facts.selected)
    per_pref: dict[str, dict[str, int]] = {p.code: dict.fromkeys(FUNNEL_STEPS, 0) for p in programme.prefectures}
    for p in facts.participants.values():
        row = per_pref[p.prefecture_code]
        row["nominated"] += 1
        row["met_online_requirement"] += met_online_requirement(p, facts, programme) is not None
        row["selected"] += p.participant_id in selected
        row["attended_field_study"] += attended_field_study(p, facts, programme) is not None
        row["completed"] += p.participant_id in completed
    ledger = Ledger.from_events(credit_events)
    by_level: dict[str, float] = {}
    for entry in ledger.entries:
        level = entry.level or "reversed"
        by_level[level] = round(by_level.get(level, 0.0) + entry.hours, 6)
    return CohortSummary(
        cohort_id=cohort_id,
        programme_id=programme.id,
        programme_version=programme.version,
        funnel={step: sum(row[step] for row in per_pref.values()) for step in FUNNEL_STEPS},
        prefectures=[
            PrefectureFunnel(code=p.code, name=p.name, counts=per_pref[p.code]) for p in programme.prefectures
        ],
        withdrawn=sum(p.withdrawn for p in facts.participants.values()),
        credit_hours=ledger.grand_total(),
        credit_hours_by_level=by_level,
        credit_entries=len(ledger.entries),
        events=events,
        selection_digest=selection_digest,
        phase=phase,
    )
