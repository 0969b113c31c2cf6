"""The facts recorded about a cohort, folded from its event stream.

This is the read model batch activities decide from: who was nominated, what
they studied, who was selected, placed, attended, reported and answered. It is a
pure fold, so replaying the same events always yields the same facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cohortflow.domain.blocks.intake import Record


class StoredEventLike(Protocol):
    @property
    def position(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


FACT_TYPES = (
    "CandidateNominated",
    "OnlineStudyRecorded",
    "StudyHoursRecorded",
    "DeliverableSubmitted",
    "FactCorrected",
    "SelectionDecided",
    "ParticipantWithdrawn",
    "WaitingListPromoted",
    "FieldPlacementAssigned",
    "FieldAttendanceRecorded",
    "ReturnReportSubmitted",
    "SurveyResponded",
    "CreditAwarded",
    "SubmissionRecorded",
    "AnonymousAnswerRecorded",
)
"""The event types the fold reads; a cohort's other events (phases, imports, reminders) change no fact."""


@dataclass(slots=True)
class ParticipantFacts:
    participant_id: str
    person_key: str
    prefecture_code: str
    nominated_at: int
    name: str = ""
    school: str = ""
    role: str = ""
    hours: float = 0.0
    deliverables: tuple[str, ...] = ()
    study_position: int | None = None
    withdrawn: bool = False
    site: str | None = None
    batch: str | None = None
    days_present: int = 0
    days_total: int = 0
    attendance_position: int | None = None
    return_report_position: int | None = None
    surveys: dict[str, int] = field(default_factory=dict)
    credited_phases: set[str] = field(default_factory=set)
    """Phases, or blocks, that have awarded the participant credit."""
    track: str | None = None
    school_level: str | None = None
    blocks: dict[str, dict[tuple[str, str], Record]] | None = None
    """A block template's records, by block and (import kind, item); None in the seven-phase form."""

    def records(self, block: str) -> dict[tuple[str, str], Record]:
        return self.blocks.get(block, {}) if self.blocks else {}


@dataclass
class CohortFacts:
    participants: dict[str, ParticipantFacts] = field(default_factory=dict)
    # Ordered sets (dicts with no values): membership is asked for every participant.
    selected: dict[str, None] = field(default_factory=dict)
    waiting_list: dict[str, None] = field(default_factory=dict)
    selection_position: int | None = None
    event_count: int = 0
    credit_hours: float = 0.0
    anonymous_answers: dict[str, int] = field(default_factory=dict)
    """Anonymous answers per block: counted, never linked to anyone."""

    def apply(self, event: StoredEventLike) -> None:
        self.event_count += 1
        d = event.data
        kind = event.type
        if kind == "CandidateNominated":
            self.participants[d["participant_id"]] = ParticipantFacts(
                participant_id=d["participant_id"],
                person_key=d["person_key"],
                prefecture_code=d["prefecture_code"],
                nominated_at=event.position,
                name=d["name"],
                school=d["school"],
                role=d["role"],
                track=d.get("track"),
                school_level=d.get("school_level"),
            )
            return
        if kind == "SelectionDecided":
            if d.get("track") is None:
                self.selected = dict.fromkeys(d["selected"])
                self.waiting_list = dict.fromkeys(d["waiting_list"])
            else:  # one of a block template's selections: each decides for its own track
                self.selected.update(dict.fromkeys(d["selected"]))
                self.waiting_list.update(dict.fromkeys(d["waiting_list"]))
            self.selection_position = event.position
            return
        if kind == "AnonymousAnswerRecorded":
            self.anonymous_answers[d["block"]] = self.anonymous_answers.get(d["block"], 0) + 1
            return
        if kind == "WaitingListPromoted":
            self.waiting_list.pop(d["participant_id"], None)
            self.selected[d["participant_id"]] = None
            return
        p = self.participants.get(d.get("participant_id", ""))
        if p is None:
            return
        if kind == "OnlineStudyRecorded":
            p.hours, p.deliverables = d["hours"], tuple(d["deliverables"])
            p.study_position = event.position
        elif kind == "StudyHoursRecorded":
            p.hours = d["hours"]
            p.study_position = event.position
        elif kind == "DeliverableSubmitted":
            if d["deliverable"] not in p.deliverables:
                p.deliverables = (*p.deliverables, d["deliverable"])
            p.study_position = event.position
        elif kind == "FactCorrected":
            if d["field"] == "hours":
                p.hours = d["value"]
                p.study_position = event.position
            elif d["field"] == "days_present":
                p.days_present = d["value"]
                p.attendance_position = event.position
            else:
                setattr(p, d["field"], d["value"])
        elif kind == "ParticipantWithdrawn":
            p.withdrawn = True
            self.selected.pop(p.participant_id, None)
            self.waiting_list.pop(p.participant_id, None)
        elif kind == "FieldPlacementAssigned":
            p.site, p.batch = d["site"], d["batch"]
        elif kind == "FieldAttendanceRecorded":
            p.days_present, p.days_total = d["days_present"], d["days_total"]
            p.attendance_position = event.position
        elif kind == "ReturnReportSubmitted":
            p.return_report_position = event.position
        elif kind == "SurveyResponded":
            p.surveys[d["survey"]] = event.position
        elif kind == "SubmissionRecorded":
            if p.blocks is None:
                p.blocks = {}
            record = Record(d["number"], d["text"], event.position)
            p.blocks.setdefault(d["block"], {})[(d["kind"], d["item"])] = record
        elif kind == "CreditAwarded":
            p.credited_phases.add(d["phase"])
            self.credit_hours += d["hours"]
        elif kind == "CreditReversed":
            pass  # the ledger keeps reversals; facts only track what was awarded once

    def active_selected(self) -> list[ParticipantFacts]:
        return [self.participants[pid] for pid in self.selected]

    def nominations_by_prefecture(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.participants.values():
            counts[p.prefecture_code] = counts.get(p.prefecture_code, 0) + 1
        return counts


def fold(events: Iterable[StoredEventLike]) -> CohortFacts:
    facts = CohortFacts()
    for event in events:
        facts.apply(event)
    return facts
