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
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import (
    AnonymousAnswerRecorded,
    CandidateNominated,
    CreditAwarded,
    DeliverableSubmitted,
    Event,
    FactCorrected,
    FieldAttendanceRecorded,
    FieldPlacementAssigned,
    OnlineStudyRecorded,
    ParticipantWithdrawn,
    ReturnReportSubmitted,
    SelectionDecided,
    StudyHoursRecorded,
    SubmissionRecorded,
    SurveyResponded,
    WaitingListPromoted,
)


class StoredEventLike(Protocol):
    @property
    def position(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def schema_version(self) -> int: ...
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

    @classmethod
    def nominated(cls, event: CandidateNominated, position: int) -> ParticipantFacts:
        return cls(
            participant_id=event.participant_id,
            person_key=event.person_key,
            prefecture_code=event.prefecture_code,
            nominated_at=position,
            name=event.name,
            school=event.school,
            role=event.role,
            track=event.track,
            school_level=event.school_level,
        )

    def records(self, block: str) -> dict[tuple[str, str], Record]:
        return self.blocks.get(block, {}) if self.blocks else {}

    def apply(self, event: Event, position: int) -> bool:
        """What one of the participant's own records changes about them; False if it is not one of those."""
        match event:
            case OnlineStudyRecorded():
                self.hours, self.deliverables = event.hours, tuple(event.deliverables)
                self.study_position = position
            case StudyHoursRecorded():
                self.hours = event.hours
                self.study_position = position
            case DeliverableSubmitted():
                if event.deliverable not in self.deliverables:
                    self.deliverables = (*self.deliverables, event.deliverable)
                self.study_position = position
            case FactCorrected(field="hours"):
                self.hours = float(event.value)
                self.study_position = position
            case FactCorrected(field="days_present"):
                self.days_present = int(event.value)
                self.attendance_position = position
            case FactCorrected():
                setattr(self, event.field, str(event.value))
            case FieldPlacementAssigned():
                self.site, self.batch = event.site, event.batch
            case FieldAttendanceRecorded():
                self.days_present, self.days_total = event.days_present, event.days_total
                self.attendance_position = position
            case ReturnReportSubmitted():
                self.return_report_position = position
            case SurveyResponded():
                self.surveys[event.survey] = position
            case SubmissionRecorded():
                if self.blocks is None:
                    self.blocks = {}
                record = Record(event.number, event.text, position)
                self.blocks.setdefault(event.block, {})[(event.kind, event.item)] = record
            case _:
                return False
        return True


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

    def apply(self, stored: StoredEventLike) -> None:
        """Fold one stored event, decoded once into its typed model."""
        self.apply_event(decode(stored.type, stored.schema_version, stored.data), stored.position)

    def apply_event(self, event: Event, position: int) -> None:
        self.event_count += 1
        match event:
            case CandidateNominated():
                self.participants[event.participant_id] = ParticipantFacts.nominated(event, position)
            case SelectionDecided():
                if event.track is None:
                    self.selected = dict.fromkeys(event.selected)
                    self.waiting_list = dict.fromkeys(event.waiting_list)
                else:  # one of a block template's selections: each decides for its own track
                    self.selected.update(dict.fromkeys(event.selected))
                    self.waiting_list.update(dict.fromkeys(event.waiting_list))
                self.selection_position = position
            case AnonymousAnswerRecorded():
                self.anonymous_answers[event.block] = self.anonymous_answers.get(event.block, 0) + 1
            case WaitingListPromoted():
                self.waiting_list.pop(event.participant_id, None)
                self.selected[event.participant_id] = None
            case ParticipantWithdrawn():
                if event.participant_id in self.participants:
                    self.participants[event.participant_id].withdrawn = True
                    self.selected.pop(event.participant_id, None)
                    self.waiting_list.pop(event.participant_id, None)
            case CreditAwarded():
                if event.participant_id in self.participants:
                    self.participants[event.participant_id].credited_phases.add(event.phase)
                    self.credit_hours += event.hours
            case _:
                participant = self.participants.get(getattr(event, "participant_id", ""))
                if participant is not None:
                    participant.apply(event, position)

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
