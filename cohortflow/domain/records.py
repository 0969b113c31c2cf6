"""Imported records of a running cohort: study hours, deliverables, attendance, return reports, surveys.

Each kind of row is checked against the programme and the cohort's facts; every
problem names its row and field. Checks return the event for a good row, or
the problems of a bad one, so an import can stream through any number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from cohortflow.domain.events import (
    DeliverableSubmitted,
    Event,
    FieldAttendanceRecorded,
    ReturnReportSubmitted,
    StudyHoursRecorded,
    SurveyResponded,
)
from cohortflow.domain.facts import CohortFacts, ParticipantFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme

SATISFACTION_RANGE = (1, 5)


@dataclass(frozen=True)
class StudyRow:
    row: int
    participant_id: str
    hours: float


@dataclass(frozen=True)
class DeliverableRow:
    row: int
    participant_id: str
    deliverable: str


@dataclass(frozen=True)
class AttendanceRow:
    row: int
    participant_id: str
    days_present: int


@dataclass(frozen=True)
class ReturnReportRow:
    row: int
    participant_id: str


@dataclass(frozen=True)
class SurveyRow:
    row: int
    participant_id: str
    survey: str
    satisfaction: int


RecordRow = StudyRow | DeliverableRow | AttendanceRow | ReturnReportRow | SurveyRow


def batch_days(programme: Programme, site: str, batch: str) -> int:
    for s in programme.field_study.sites:
        for b in s.batches:
            if s.code == site and b.code == batch:
                return b.days
    raise KeyError(f"{site}/{batch}")


def repeat_key(r: RecordRow) -> tuple[str, str]:
    """What may appear once per file: a participant's hours or attendance, or one survey or deliverable."""
    if isinstance(r, SurveyRow):
        return r.participant_id, r.survey
    if isinstance(r, DeliverableRow):
        return r.participant_id, r.deliverable
    return r.participant_id, ""


def unknown_participant(where: str, participant_id: str) -> str:
    """The problem of a row (``where``) naming a participant the cohort does not have."""
    return phrase(
        "{where}, participant_id: unknown participant {participant_id} in this cohort",
        where=where,
        participant_id=repr(participant_id),
    )


def not_yours(where: str, participant_id: str, prefecture_code: str) -> str:
    """The problem of a coordinator's row naming another prefecture's participant."""
    return phrase(
        "{where}, participant_id: {participant_id} belongs to prefecture {prefecture}, not yours",
        where=where,
        participant_id=participant_id,
        prefecture=prefecture_code,
    )


def has_withdrawn(where: str, participant_id: str) -> str:
    """The problem of a row naming a participant who has withdrawn."""
    return phrase("{where}, participant_id: {participant_id} has withdrawn", where=where, participant_id=participant_id)


def not_selected_offline(where: str, participant_id: str) -> str:
    return phrase(
        "{where}, participant_id: {participant_id} was not selected for the offline phase",
        where=where,
        participant_id=participant_id,
    )


def max_study_hours(programme: Programme) -> float:
    """More hours than the online phase has cannot be real."""
    phase = programme.phase("online_study")
    return float((phase.end_day - phase.start_day) * 24)


class RecordCheck:
    """Check rows of one kind against the cohort, one at a time.

    :meth:`check` remembers the :func:`repeat_key` of every row that passed
    :meth:`screen`, to catch the same participant twice in one file: the second
    row would silently overwrite the first. A caller that finds repeats
    elsewhere (an import keeps them in the database, so its memory does not grow
    with the file) uses :meth:`screen` and :meth:`decide` instead.
    """

    def __init__(self, programme: Programme, facts: CohortFacts, prefecture: str | None = None) -> None:
        self.programme = programme
        self.facts = facts
        self.prefecture = prefecture
        self._seen: set[tuple[str, str]] = set()

    def check(self, r: RecordRow) -> Event | list[str]:
        problems = self.screen(r)
        if problems:
            return problems
        key = repeat_key(r)
        repeated = key in self._seen
        self._seen.add(key)
        return self.decide(r, repeated=repeated)

    @staticmethod
    def repeat_key(r: RecordRow) -> tuple[str, str]:
        return repeat_key(r)

    def screen(self, r: RecordRow) -> list[str]:
        """Whether the row's participant may have records here at all; a row that passes counts for repeats."""
        where = phrase("row {row}", row=r.row)
        p = self.facts.participants.get(r.participant_id)
        if p is None:
            return [unknown_participant(where, r.participant_id)]
        if self.prefecture is not None and p.prefecture_code != self.prefecture:
            return [not_yours(where, r.participant_id, p.prefecture_code)]
        if p.withdrawn:
            return [has_withdrawn(where, r.participant_id)]
        return []

    def decide(self, r: RecordRow, *, repeated: bool) -> Event | list[str]:
        """The event or the problems of a row that passed :meth:`screen`.

        ``repeated``: an earlier row of the file that passed :meth:`screen` has the same :func:`repeat_key`.
        """
        where = phrase("row {row}", row=r.row)
        if repeated:
            return [
                phrase(
                    "{where}, participant_id: {participant_id} appears twice in this file",
                    where=where,
                    participant_id=r.participant_id,
                )
            ]
        p = self.facts.participants[r.participant_id]
        if isinstance(r, StudyRow):
            return self._study(where, r)
        if isinstance(r, DeliverableRow):
            return self._deliverable(where, r)
        if isinstance(r, AttendanceRow):
            return self._attendance(where, p, r)
        if isinstance(r, ReturnReportRow):
            return self._return_report(where, p)
        return self._survey(where, p, r)

    def _study(self, where: str, r: StudyRow) -> Event | list[str]:
        limit = max_study_hours(self.programme)
        if not 0 <= r.hours <= limit:
            return [
                phrase(
                    "{where}, hours: {hours} is out of range 0–{limit} (the online phase's length)",
                    where=where,
                    hours=f"{r.hours:g}",
                    limit=f"{limit:g}",
                )
            ]
        return StudyHoursRecorded(participant_id=r.participant_id, hours=r.hours)

    def _deliverable(self, where: str, r: DeliverableRow) -> Event | list[str]:
        known = [d.code for d in self.programme.deliverables]
        if r.deliverable not in known:
            return [
                phrase(
                    "{where}, deliverable: {deliverable} is not a deliverable of this programme ({known})",
                    where=where,
                    deliverable=repr(r.deliverable),
                    known=", ".join(known),
                )
            ]
        return DeliverableSubmitted(participant_id=r.participant_id, deliverable=r.deliverable)

    def _attendance(self, where: str, p: ParticipantFacts, r: AttendanceRow) -> Event | list[str]:
        if p.participant_id not in self.facts.selected or p.site is None or p.batch is None:
            return [
                phrase(
                    "{where}, participant_id: {participant_id} has no field-study placement",
                    where=where,
                    participant_id=p.participant_id,
                )
            ]
        days = batch_days(self.programme, p.site, p.batch)
        if not 0 <= r.days_present <= days:
            return [
                phrase(
                    "{where}, days_present: {days_present} is out of range 0–{days} (batch {batch}'s length)",
                    where=where,
                    days_present=r.days_present,
                    days=days,
                    batch=p.batch,
                )
            ]
        return FieldAttendanceRecorded(
            participant_id=p.participant_id, site=p.site, batch=p.batch, days_present=r.days_present, days_total=days
        )

    def _return_report(self, where: str, p: ParticipantFacts) -> Event | list[str]:
        if p.participant_id not in self.facts.selected:
            return [not_selected_offline(where, p.participant_id)]
        if p.return_report_position is not None:
            return [
                phrase(
                    "{where}, participant_id: {participant_id} has already handed in a return report",
                    where=where,
                    participant_id=p.participant_id,
                )
            ]
        return ReturnReportSubmitted(participant_id=p.participant_id)

    def _survey(self, where: str, p: ParticipantFacts, r: SurveyRow) -> Event | list[str]:
        known = [s.code for s in self.programme.follow_up]
        problems = []
        if r.survey not in known:
            problems.append(
                phrase(
                    "{where}, survey: {survey} is not a follow-up survey of this programme",
                    where=where,
                    survey=repr(r.survey),
                )
            )
        if p.participant_id not in self.facts.selected:
            problems.append(not_selected_offline(where, p.participant_id))
        low, high = SATISFACTION_RANGE
        if not low <= r.satisfaction <= high:
            problems.append(
                phrase(
                    "{where}, satisfaction: {satisfaction} is out of range {low}–{high}",
                    where=where,
                    satisfaction=r.satisfaction,
                    low=low,
                    high=high,
                )
            )
        if problems:
            return problems
        return SurveyResponded(participant_id=p.participant_id, survey=r.survey, satisfaction=r.satisfaction)
