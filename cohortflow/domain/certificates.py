"""Completion certificates: who of a cohort has completed, and what their certificate prints.

A pure fold over the cohort's stream: the nomination gives the person (name as
corrected since, ID number masked as printed), the credit entries their hours in
the cohort (reversals are negative entries), ``ParticipantCompleted`` the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from cohortflow.domain.events import (
    CandidateNominated,
    CertificateIssued,
    CreditAwarded,
    CreditReversed,
    Event,
    FactCorrected,
    ParticipantCompleted,
)
from cohortflow.domain.national_id import mask
from cohortflow.domain.vocabulary import PROVINCE_ZONE

SOURCE_TYPES = ("CandidateNominated", "FactCorrected", "CreditAwarded", "CreditReversed", "ParticipantCompleted")
"""The cohort events a certificate is made from."""
"""The zone of the date printed on a certificate: the programmes' own."""


def certificate_stream(code: str) -> str:
    """Each certificate's own stream, named by its code: verifying a code is one indexed read, whatever the size of
    the history, with no index or table of its own (the events' unique (stream, version) index serves it)."""
    return f"certificate-{code}"


def issue_key(cohort_id: str, participant_id: str) -> str:
    """The idempotency key of a participant's completion certificate: one per participant and cohort, ever."""
    return f"certificate/{cohort_id}/{participant_id}"


@dataclass(slots=True)
class Completer:
    participant_id: str
    person_key: str
    name: str
    national_id: str
    prefecture_code: str
    credit_hours: float = 0.0
    completed_on: date | None = None


class Completions:
    """The fold: every nominee, their hours, and the day each completed."""

    def __init__(self) -> None:
        self.people: dict[str, Completer] = {}

    def apply(self, event: Event, recorded_at: datetime) -> None:
        match event:
            case CandidateNominated():
                self.people[event.participant_id] = Completer(
                    event.participant_id, event.person_key, event.name, event.national_id, event.prefecture_code
                )
            case FactCorrected(field="name") if event.participant_id in self.people:
                self.people[event.participant_id].name = str(event.value)
            case CreditAwarded() | CreditReversed() if event.participant_id in self.people:
                person = self.people[event.participant_id]
                person.credit_hours = round(person.credit_hours + event.hours, 6)
            case ParticipantCompleted() if event.participant_id in self.people:
                self.people[event.participant_id].completed_on = recorded_at.astimezone(PROVINCE_ZONE).date()

    def completed(self, prefecture: str | None = None) -> list[Completer]:
        """Those who completed, in participant order; only ``prefecture``'s when given (a coordinator's scope)."""
        return sorted(
            (
                p
                for p in self.people.values()
                if p.completed_on is not None and (prefecture is None or p.prefecture_code == prefecture)
            ),
            key=lambda p: p.participant_id,
        )


@dataclass(frozen=True)
class CohortProgramme:
    cohort_id: str
    programme_id: str
    programme_name: str


def completion_certificate(person: Completer, code: str, cohort: CohortProgramme, issued_by: str) -> CertificateIssued:
    assert person.completed_on is not None, "only those who completed get a completion certificate"
    return CertificateIssued(
        kind="completion",
        code=code,
        person_key=person.person_key,
        name=person.name,
        national_id_masked=mask(person.national_id),
        credit_hours=person.credit_hours,
        completed_on=person.completed_on,
        issued_by=issued_by,
        cohort_id=cohort.cohort_id,
        programme_id=cohort.programme_id,
        programme_name=cohort.programme_name,
        participant_id=person.participant_id,
    )


def cycle_issue_key(person_key: str, rule_id: str, first_year: int) -> str:
    """The idempotency key of a person's certificate for one cycle of one rule: one ever."""
    return f"certificate/{person_key}/{rule_id}/{first_year}"


@dataclass(frozen=True)
class CycleMet:
    """A rule of hours per cycle a person has met: what its certificate prints."""

    person_key: str
    name: str
    national_id: str
    rule_id: str
    rule_title: str
    first_year: int
    last_year: int
    hours: float
    met_on: date


def cycle_certificate(met: CycleMet, code: str, issued_by: str) -> CertificateIssued:
    return CertificateIssued(
        kind="credit_cycle",
        code=code,
        person_key=met.person_key,
        name=met.name,
        national_id_masked=mask(met.national_id),
        credit_hours=met.hours,
        completed_on=met.met_on,
        issued_by=issued_by,
        requirement=met.rule_title,
        cycle=f"{met.first_year}–{met.last_year}",
    )
