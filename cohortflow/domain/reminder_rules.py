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
    yield from listed_twice("reminder rule", rule_codes)
    yield from listed_twice("message template", [t.code for t in r.templates])
    yield from listed_twice("coordinator for prefecture", [c.prefecture for c in r.coordinators])


def coordinator_problems(r: ReminderSettings, prefectures: Set[str]) -> Iterator[str]:
    for c in r.coordinators:
        if c.prefecture not in prefectures:
            yield f"coordinator {c.name}: prefecture {c.prefecture} is not in the programme"


def code_problems(code: str) -> Iterator[str]:
    if not RULE_CODE.fullmatch(code):
        yield f"reminder rule {code}: a code may hold only letters, digits, '.', '_' and '-'"


def _zone_problems(r: ReminderSettings) -> Iterator[str]:
    zones = [("reminders.time_zone", r.time_zone)]
    zones += [(f"coordinator {c.name}: time_zone", c.time_zone) for c in r.coordinators if c.time_zone]
    for where, zone in zones:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield f"{where} {zone!r} is not a known time zone"


def _rule_problems(
    rule: ReminderRule, facts: ProgrammeFacts, templates: Mapping[str, MessageTemplate]
) -> Iterator[str]:
    where = f"reminder rule {rule.code}"
    yield from code_problems(rule.code)
    timings = [t for t in (rule.before, rule.after, rule.weekly) if t is not None]
    if len(timings) != 1:
        yield f"{where}: needs exactly one of before, after or weekly, got {len(timings)}"
    if (rule.weekly is not None) != (rule.audience == "coordinators"):
        yield f"{where}: weekly digests go to coordinators, and coordinators get only weekly digests"
    template = templates.get(rule.template)
    if template is None:
        yield f"{where}: message template {rule.template!r} does not exist"
    else:
        yield from placeholder_problems(template, rule.recipients)
    yield from _audience_problems(rule, facts)
    if rule.before is not None:
        yield from _before_problems(where, rule.before, facts)
    if rule.after is not None:
        yield from _after_problems(where, rule, rule.after, facts)
    if rule.weekly is not None and not 1 <= rule.weekly.weekday <= 7:
        yield f"{where}: weekday {rule.weekly.weekday} must be 1 (Monday) to 7 (Sunday)"


def _audience_problems(rule: ReminderRule, facts: ProgrammeFacts) -> Iterator[str]:
    where = f"reminder rule {rule.code}"
    if rule.audience == "missing_deliverable":
        if rule.deliverable is None:
            yield f"{where}: audience missing_deliverable needs a deliverable"
        elif rule.deliverable not in facts.deliverables:
            yield f"{where}: deliverable {rule.deliverable!r} does not exist"
    elif rule.deliverable is not None:
        yield f"{where}: a deliverable applies only to audience missing_deliverable"
    if rule.audience == "survey_pending":
        if rule.survey is None:
            yield f"{where}: audience survey_pending needs a survey"
        elif rule.survey not in facts.surveys:
            yield f"{where}: follow-up survey {rule.survey!r} does not exist"
    elif rule.survey is not None:
        yield f"{where}: a survey applies only to audience survey_pending"


def _before_problems(where: str, before: BeforeDeadline, facts: ProgrammeFacts) -> Iterator[str]:
    start, end = facts.phase_days.get(before.phase, (0, 0))
    if not before.days:
        yield f"{where}: before.days lists no days"
    for days in before.days:
        if days < 1:
            yield f"{where}: {days} days before the {before.phase} deadline must be 1 or more"
        elif days >= end - start:
            yield (
                f"{where}: {days} days before the {before.phase} deadline falls before the phase opens "
                f"(it lasts {end - start} days)"
            )


def _after_problems(where: str, rule: ReminderRule, after: AfterPhase, facts: ProgrammeFacts) -> Iterator[str]:
    if not after.days:
        yield f"{where}: after.days lists no days"
    if not 0 <= after.nudges <= MAX_NUDGES:
        yield f"{where}: nudges must be 0 to {MAX_NUDGES}, got {after.nudges}"
    if after.nudge_every_days < 1:
        yield f"{where}: nudge_every_days must be 1 or more"
    if after.phase == "completion":
        yield f"{where}: nothing follows the completion phase, so no reminder can come after it"
        return
    closes = facts.phase_days.get(after.phase, (0, 0))[1]
    ends = facts.phase_days.get("completion", (0, 0))[1]
    sent = None
    if rule.survey is not None and rule.survey in facts.surveys:
        sent = facts.phase_days.get("follow_up", (0, 0))[0] + facts.surveys[rule.survey]
    for days in after.days:
        last = closes + days + after.nudges * after.nudge_every_days
        if days < 1:
            yield f"{where}: {days} days after {after.phase} must be 1 or more"
        elif last >= ends:
            yield f"{where}: day {last} of the programme falls after it ends on day {ends}"
        if sent is not None and closes + days < sent:
            yield f"{where}: day {closes + days} comes before survey {rule.survey} is sent on day {sent}"
