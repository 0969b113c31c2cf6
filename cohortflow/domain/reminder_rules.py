"""Reminder rules, part of a programme template.

A rule says when it fires, who receives it and with which message:

- ``before``: some days before a phase's deadline (which extensions move);
- ``after``: some days after a phase closed, each with up to two nudges;
- ``weekly``: a digest to each prefecture's coordinator, run by a Temporal Schedule.

Recipients are not listed in the rule: they are whoever the ``audience`` picks
out of the read models when the rule fires, so nobody who has done the work is
reminded of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain.codes import listed_twice
from cohortflow.domain.messages import Locale, MessageTemplate, Recipients, placeholder_problems
from cohortflow.domain.phases import PhaseKind
from cohortflow.domain.phrases import phrase
from cohortflow.domain.quiet_hours import QuietHours
from cohortflow.domain.vocabulary import DEFAULT_TIME_ZONE

Audience = Literal[
    "under_required_hours",
    "missing_deliverable",
    "return_report_pending",
    "survey_pending",
    "coordinators",
]
ReminderChannel = Literal["email", "webhook"]
MAX_NUDGES = 2
RULE_CODE = re.compile(r"[A-Za-z0-9_.-]+")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BeforeDeadline(_Frozen):
    phase: PhaseKind
    days: tuple[int, ...] = Field(description="Days before the phase's deadline, e.g. [7, 1]")


class AfterPhase(_Frozen):
    phase: PhaseKind
    days: tuple[int, ...] = Field(description="Days after the phase closed, e.g. [30, 91, 182]")
    nudges: int = Field(default=0, description=f"Repeats for whoever is still behind, at most {MAX_NUDGES}")
    nudge_every_days: int = 7


class Weekly(_Frozen):
    weekday: int = Field(default=1, description="ISO weekday: 1 is Monday")
    at: time = time(9, 0)


class ReminderRule(_Frozen):
    code: str
    template: str
    audience: Audience
    channel: ReminderChannel = "email"
    before: BeforeDeadline | None = None
    after: AfterPhase | None = None
    weekly: Weekly | None = None
    deliverable: str | None = Field(default=None, description="For audience missing_deliverable")
    survey: str | None = Field(default=None, description="For audience survey_pending")

    @property
    def phase(self) -> PhaseKind | None:
        """The phase the rule counts from, if any."""
        timing = self.before or self.after
        return timing.phase if timing else None

    @property
    def recipients(self) -> Recipients:
        return "coordinators" if self.audience == "coordinators" else "participants"


class Coordinator(_Frozen):
    prefecture: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: Locale = "zh"
    time_zone: str | None = None


class ReminderSettings(_Frozen):
    """What every template's reminders share, whatever their rules are timed against."""

    time_zone: str = DEFAULT_TIME_ZONE
    """The recipients' time zone unless a coordinator has their own."""
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    templates: tuple[MessageTemplate, ...] = ()
    coordinators: tuple[Coordinator, ...] = ()

    def template(self, code: str) -> MessageTemplate:
        for template in self.templates:
            if template.code == code:
                return template
        raise KeyError(code)


class Reminders(ReminderSettings):
    """Reminders of a seven-phase template: rules timed against phases."""

    rules: tuple[ReminderRule, ...] = ()


class ProgrammeFacts(_Frozen):
    """What reminder rules are checked against, taken from the rest of the template."""

    phase_days: Mapping[PhaseKind, tuple[int, int]]
    """Each phase's start and end day."""
    deliverables: Set[str]
    surveys: Mapping[str, int]
    """Follow-up survey code → day it is sent, counted from the follow-up phase's start."""
    prefectures: Set[str]


def reminder_problems(r: Reminders, facts: ProgrammeFacts) -> Iterator[str]:
    yield from settings_problems(r, [rule.code for rule in r.rules])
    templates = {t.code: t for t in r.templates}
    for rule in r.rules:
        yield from _rule_problems(rule, facts, templates)
    yield from coordinator_problems(r, facts.prefectures)


def settings_problems(r: ReminderSettings, rule_codes: list[str]) -> Iterator[str]:
    """Time zones, and codes listed twice: rules, templates, coordinators' prefectures."""
    yield from _zone_problems(r)
    yield from listed_twice(rule_place, rule_codes)
    yield from listed_twice(
        lambda code: phrase("message template {template}", template=code), [t.code for t in r.templates]
    )
    yield from listed_twice(
        lambda code: phrase(
            "coordinator for {prefecture}", prefecture=phrase("prefecture {prefecture}", prefecture=code)
        ),
        [c.prefecture for c in r.coordinators],
    )


def coordinator_problems(r: ReminderSettings, prefectures: Set[str]) -> Iterator[str]:
    for c in r.coordinators:
        if c.prefecture not in prefectures:
            yield phrase(
                "{where}: prefecture {prefecture} is not in the programme",
                where=phrase("coordinator {name}", name=c.name),
                prefecture=c.prefecture,
            )


def rule_place(code: str) -> str:
    """Where a reminder rule's problem is: the rule, by its code."""
    return phrase("reminder rule {rule}", rule=code)


def code_problems(code: str) -> Iterator[str]:
    if not RULE_CODE.fullmatch(code):
        yield phrase("{where}: a code may hold only letters, digits, '.', '_' and '-'", where=rule_place(code))


def _known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _zone_problems(r: ReminderSettings) -> Iterator[str]:
    if not _known_zone(r.time_zone):
        yield phrase("reminders.time_zone {zone} is not a known time zone", zone=repr(r.time_zone))
    for c in r.coordinators:
        if c.time_zone and not _known_zone(c.time_zone):
            yield phrase(
                "{where}: time_zone {zone} is not a known time zone",
                where=phrase("coordinator {name}", name=c.name),
                zone=repr(c.time_zone),
            )


def _rule_problems(
    rule: ReminderRule, facts: ProgrammeFacts, templates: Mapping[str, MessageTemplate]
) -> Iterator[str]:
    where = rule_place(rule.code)
    yield from code_problems(rule.code)
    timings = [t for t in (rule.before, rule.after, rule.weekly) if t is not None]
    if len(timings) != 1:
        yield phrase(
            "{where}: needs exactly one of before, after or weekly, got {count}", where=where, count=len(timings)
        )
    if (rule.weekly is not None) != (rule.audience == "coordinators"):
        yield phrase(
            "{where}: weekly digests go to coordinators, and coordinators get only weekly digests", where=where
        )
    template = templates.get(rule.template)
    if template is None:
        yield phrase("{where}: message template {template} does not exist", where=where, template=repr(rule.template))
    else:
        yield from placeholder_problems(template, rule.recipients)
    yield from _audience_problems(rule, facts)
    if rule.before is not None:
        yield from _before_problems(where, rule.before, facts)
    if rule.after is not None:
        yield from _after_problems(where, rule, rule.after, facts)
    if rule.weekly is not None and not 1 <= rule.weekly.weekday <= 7:
        yield phrase(
            "{where}: weekday {weekday} must be 1 (Monday) to 7 (Sunday)", where=where, weekday=rule.weekly.weekday
        )


def _audience_problems(rule: ReminderRule, facts: ProgrammeFacts) -> Iterator[str]:
    where = rule_place(rule.code)
    if rule.audience == "missing_deliverable":
        if rule.deliverable is None:
            yield phrase("{where}: audience missing_deliverable needs a deliverable", where=where)
        elif rule.deliverable not in facts.deliverables:
            yield phrase(
                "{where}: deliverable {deliverable} does not exist", where=where, deliverable=repr(rule.deliverable)
            )
    elif rule.deliverable is not None:
        yield phrase("{where}: a deliverable applies only to audience missing_deliverable", where=where)
    if rule.audience == "survey_pending":
        if rule.survey is None:
            yield phrase("{where}: audience survey_pending needs a survey", where=where)
        elif rule.survey not in facts.surveys:
            yield phrase("{where}: follow-up survey {survey} does not exist", where=where, survey=repr(rule.survey))
    elif rule.survey is not None:
        yield phrase("{where}: a survey applies only to audience survey_pending", where=where)


def _before_problems(where: str, before: BeforeDeadline, facts: ProgrammeFacts) -> Iterator[str]:
    start, end = facts.phase_days.get(before.phase, (0, 0))
    if not before.days:
        yield phrase("{where}: before.days lists no days", where=where)
    for days in before.days:
        if days < 1:
            yield phrase(
                "{where}: {days} days before the {phase} deadline must be 1 or more",
                where=where,
                days=days,
                phase=before.phase,
            )
        elif days >= end - start:
            yield phrase(
                "{where}: {days} days before the {phase} deadline falls before the phase opens "
                "(it lasts {length} days)",
                where=where,
                days=days,
                phase=before.phase,
                length=end - start,
            )


def _after_problems(where: str, rule: ReminderRule, after: AfterPhase, facts: ProgrammeFacts) -> Iterator[str]:
    if not after.days:
        yield phrase("{where}: after.days lists no days", where=where)
    if not 0 <= after.nudges <= MAX_NUDGES:
        yield phrase(
            "{where}: nudges must be 0 to {most}, got {nudges}", where=where, most=MAX_NUDGES, nudges=after.nudges
        )
    if after.nudge_every_days < 1:
        yield phrase("{where}: nudge_every_days must be 1 or more", where=where)
    if after.phase == "completion":
        yield phrase("{where}: nothing follows the completion phase, so no reminder can come after it", where=where)
        return
    closes = facts.phase_days.get(after.phase, (0, 0))[1]
    ends = facts.phase_days.get("completion", (0, 0))[1]
    sent = None
    if rule.survey is not None and rule.survey in facts.surveys:
        sent = facts.phase_days.get("follow_up", (0, 0))[0] + facts.surveys[rule.survey]
    for days in after.days:
        last = closes + days + after.nudges * after.nudge_every_days
        if days < 1:
            yield phrase(
                "{where}: {days} days after {phase} must be 1 or more", where=where, days=days, phase=after.phase
            )
        elif last >= ends:
            yield phrase(
                "{where}: day {day} of the programme falls after it ends on day {end}", where=where, day=last, end=ends
            )
        if sent is not None and closes + days < sent:
            yield phrase(
                "{where}: day {day} comes before survey {survey} is sent on day {sent}",
                where=where,
                day=closes + days,
                survey=rule.survey,
                sent=sent,
            )
