"""A person's standing against every rule that applies to them, at any date, with the source of every hour.

Two views of a past date: *as known now* counts every entry recorded to this day for hours earned by then
(a 2022 course imported in 2026 counts in 2022's cycle); *as recorded then* counts only what had been recorded
by that date, which is what a statement printed that day said. A reversal counts in the cycle of the entry it
cancels, so correcting an old mistake does not eat into this cycle's hours.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.credits import Credit
from cohortflow.domain.credit_bank.people import Person
from cohortflow.domain.credit_bank.requirements import DaysPerPeriod, HoursPerCycle, Qualification, Requirements, Rule
from cohortflow.domain.phrases import joined, phrase

View = Literal["known_now", "recorded_then"]


@dataclass(frozen=True)
class RuleStanding:
    rule_id: str
    title: str
    unit: Literal["hours", "days"]
    required: float
    achieved: float
    window: tuple[date, date] | None
    """The days whose training counts (a cycle, a period, a qualification's span); None if it cannot be known."""
    counted: tuple[Credit, ...]
    """Every entry that counts, reversals included (their hours negative): where each hour came from."""
    why: str
    """The standing in a sentence: what is met, or what is missing by when."""

    @property
    def met(self) -> bool:
        return self.achieved >= self.required

    @property
    def missing(self) -> float:
        return max(0.0, self.required - self.achieved)


def effective(credits: Iterable[Credit], as_of: date, view: View) -> list[Credit]:
    """The entries that stand on ``as_of`` in ``view``, each reversal carrying the cancelled entry's facts.

    A reversal keeps its own id, reason and recording day; it takes the hours (negated), kind, level, days and
    earning day of the entry it cancels, so it counts exactly where that entry counted.
    """
    known = [c for c in credits if view == "known_now" or c.recorded_on <= as_of]
    by_id = {c.entry_id: c for c in known}
    standing: list[Credit] = []
    for c in known:
        if c.reverses is None:
            standing.append(c)
        elif (original := by_id.get(c.reverses)) is not None:
            standing.append(
                dataclasses.replace(
                    original,
                    entry_id=c.entry_id,
                    hours=-original.hours,
                    recorded_on=c.recorded_on,
                    reverses=original.entry_id,
                    reason=c.reason,
                )
            )
    return [c for c in standing if c.earned_on <= as_of]


def standing(
    person: Person, credits: Iterable[Credit], requirements: Requirements, as_of: date, view: View = "known_now"
) -> list[RuleStanding]:
    """``person``'s standing on ``as_of`` against every rule of ``requirements`` that applies to them."""
    entries = effective((c for c in credits if c.person_key == person.person_key), as_of, view)
    return [_judge(rule, person, entries, as_of) for rule in requirements.rules_for(person)]


def level_shares(entries: Sequence[Credit]) -> dict[CreditLevel, float]:
    """Each level's share of the hours of ``entries`` (0 for every level when there are none)."""
    total = sum(c.hours for c in entries)
    levels: tuple[CreditLevel, ...] = get_args(CreditLevel)
    return {lv: (sum(c.hours for c in entries if c.level == lv) / total if total > 0 else 0.0) for lv in levels}


def _judge(rule: Rule, person: Person, entries: Sequence[Credit], as_of: date) -> RuleStanding:
    match rule:
        case HoursPerCycle():
            first, last = _years_around(as_of.year, rule.anchor_year, rule.cycle_years)
            window = (date(first, 1, 1), date(last, 12, 31))
            counted = _within(entries, rule, window)
            achieved = sum(c.hours for c in counted)
            span = phrase("the cycle {first}–{last}", first=first, last=last)
            return _said(rule, "hours", rule.hours, achieved, window, counted, span)
        case DaysPerPeriod():
            first, last = _years_around(as_of.year, rule.anchor_year, rule.period_years)
            window = (date(first, 1, 1), date(last, 12, 31))
            counted = tuple(c for c in _within(entries, rule, window) if c.off_the_job)
            achieved = sum(c.days if c.reverses is None else -c.days for c in counted)
            span = phrase("the period {first}–{last}", first=first, last=last)
            return _said(rule, "days", rule.days, achieved, window, counted, span)
        case Qualification():
            if person.took_post_on is None:
                why = phrase("the day they took post is not recorded")
                return RuleStanding(rule.id, rule.title, "hours", rule.hours, 0.0, None, (), why)
            due = _months_later(person.took_post_on, rule.months_after)
            start = date.min if rule.months_before is None else _months_later(person.took_post_on, -rule.months_before)
            counted = _within(entries, rule, (start, due))
            achieved = sum(c.hours for c in counted)
            span = phrase("qualifying training by {due}", due=due)
            return _said(rule, "hours", rule.hours, achieved, (start, due), counted, span)


def _within(entries: Sequence[Credit], rule: Rule, window: tuple[date, date]) -> tuple[Credit, ...]:
    return tuple(c for c in entries if window[0] <= c.earned_on <= window[1] and rule.counts(c.kind))


def _said(
    rule: Rule,
    unit: Literal["hours", "days"],
    required: float,
    achieved: float,
    window: tuple[date, date],
    counted: tuple[Credit, ...],
    span: str,
) -> RuleStanding:
    reversals = [c for c in counted if c.reverses is not None]
    why = _why(unit, required, achieved, window[1], span, reversals)
    return RuleStanding(rule.id, rule.title, unit, required, achieved, window, counted, why)


def _why(
    unit: Literal["hours", "days"], required: float, achieved: float, due: date, span: str, reversals: list[Credit]
) -> str:
    """The standing in a sentence: met, or what is missing by ``due``, with what is held in ``span``; then each
    reversal that counts, all joined as one list (``standing; reversal; reversal``)."""
    values = {"achieved": f"{achieved:g}", "required": f"{required:g}", "span": span}
    missing = {"missing": f"{required - achieved:g}", "due": due}
    match unit, achieved >= required:
        case "hours", True:
            said = phrase("met: {achieved} of {required} hours in {span}", **values)
        case "hours", False:
            said = phrase(
                "{missing} hours missing by {due}: {achieved} of {required} hours in {span}", **values, **missing
            )
        case "days", True:
            said = phrase("met: {achieved} of {required} days in {span}", **values)
        case _:
            said = phrase(
                "{missing} days missing by {due}: {achieved} of {required} days in {span}", **values, **missing
            )
    return joined([said, *(_reversed(c, unit) for c in reversals)])


def _reversed(c: Credit, unit: Literal["hours", "days"]) -> str:
    """A reversal that counts: the hours (or days) reversed, the entry and why."""
    if unit == "hours":
        return phrase(
            "{amount} hours of entry {entry} reversed ({reason})",
            amount=f"{abs(c.hours):g}",
            entry=c.reverses,
            reason=c.reason,
        )
    return phrase(
        "{amount} days of entry {entry} reversed ({reason})", amount=c.days, entry=c.reverses, reason=c.reason
    )


def _years_around(year: int, anchor: int, length: int) -> tuple[int, int]:
    """The first and last year of the cycle of ``length`` years, counted from ``anchor``, that holds ``year``."""
    first = anchor + (year - anchor) // length * length
    return first, first + length - 1


def _months_later(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, kept within the month's length (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
