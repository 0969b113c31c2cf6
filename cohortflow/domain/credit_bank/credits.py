"""A credit entry from any source, and what makes one impossible.

Every entry says where its hours came from (a cohort's block, a school's own training, recognised external
study), the day they were earned, which decides the cycle they count in, and the day they were recorded, which
decides what an earlier statement could have known. Entries are never edited: a correction is a reversing entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.people import Person
from cohortflow.domain.phrases import phrase

BankSource = Literal["school", "district", "recognised"]
"""Who recorded hours outside a cohort: a school, a district, or a reviewer recognising external study."""
Source = Literal["cohort", BankSource]
TrainingKind = Literal["qualification", "improvement", "advanced", "thematic", "school_based", "external"]
MAX_HOURS_A_DAY = 24.0
"""Hours one entry may hold for each day it spans: more could not have been spent training."""


@dataclass(frozen=True)
class Credit:
    entry_id: str
    person_key: str
    hours: float
    level: CreditLevel
    kind: TrainingKind
    source: Source
    earned_on: date
    """The last day of the training: its hours count in the cycle of this day."""
    recorded_on: date
    days: int = 1
    """Calendar days the training spanned; with ``off_the_job`` the days a days-per-period rule counts."""
    off_the_job: bool = False
    """Full-time training away from the post (脱产)."""
    reverses: str | None = None
    """The entry this one cancels; its hours are the negative of that entry's."""
    reason: str = ""


def credit_problems(credit: Credit, person: Person, today: date, where: str | None = None) -> list[str]:
    """Why ``credit`` cannot be recorded for ``person`` on ``today``; empty if it can.

    Each problem names the field after ``where``: a file's row, the entry when not given, or no place at all
    when ``where`` is empty (a claim's own problems)."""
    if where is None:
        where = phrase("entry {entry}", entry=credit.entry_id)
    problems: list[str] = []
    if credit.reverses is None and credit.hours <= 0:
        hours = f"{credit.hours:g}"
        problems.append(
            phrase("{where}, hours: {hours} is not a positive number of hours", where=where, hours=hours)
            if where
            else phrase("hours: {hours} is not a positive number of hours", hours=hours)
        )
    if credit.days < 1:
        problems.append(
            phrase("{where}, days: {days} is not a number of days (at least 1)", where=where, days=credit.days)
            if where
            else phrase("days: {days} is not a number of days (at least 1)", days=credit.days)
        )
    elif abs(credit.hours) > MAX_HOURS_A_DAY * credit.days:
        values = {"hours": f"{credit.hours:g}", "days": credit.days, "most": f"{MAX_HOURS_A_DAY:g}"}
        problems.append(
            phrase(
                "{where}, hours: {hours} hours in {days} day(s) is more than {most} hours a day", where=where, **values
            )
            if where
            else phrase("hours: {hours} hours in {days} day(s) is more than {most} hours a day", **values)
        )
    if credit.earned_on > today:
        problems.append(
            phrase("{where}, earned_on: {day} is in the future", where=where, day=credit.earned_on)
            if where
            else phrase("earned_on: {day} is in the future", day=credit.earned_on)
        )
    elif person.born_on is not None and credit.earned_on < person.born_on:
        problems.append(
            phrase("{where}, earned_on: {day} is before the person was born", where=where, day=credit.earned_on)
            if where
            else phrase("earned_on: {day} is before the person was born", day=credit.earned_on)
        )
    elif credit.recorded_on < credit.earned_on:
        problems.append(
            phrase("{where}, recorded_on: {day} is before the hours were earned", where=where, day=credit.recorded_on)
            if where
            else phrase("recorded_on: {day} is before the hours were earned", day=credit.recorded_on)
        )
    return problems
