"""When a cohort's reminder rules fire: one moment per rule and occurrence, never per person.

The cycle workflow asks this after every change to its state (a phase opening
or closing, a deadline extended) and keeps one timer, for the earliest moment
not yet handled. Who receives each occurrence is decided only when it fires.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cohortflow.domain.cycle import CycleState
from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_rules import ReminderRule


class ReminderDue(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    occurrence: str
    """Names this firing of the rule; with the rule and a recipient it identifies one message."""
    at: datetime
    deadline: datetime | None = None
    days: int
    """Days before the deadline, or after the phase closed."""


def reminders_due(programme: Programme, state: CycleState) -> list[ReminderDue]:
    """Every occurrence the cohort's rules schedule as things stand, earliest first."""
    rules = programme.reminders.rules if programme.reminders else ()
    due = [d for rule in rules for d in (*_before(programme, state, rule), *_after(state, rule))]
    return sorted(due, key=lambda d: (d.at, d.rule, d.occurrence))


def _before(programme: Programme, state: CycleState, rule: ReminderRule) -> list[ReminderDue]:
    before = rule.before
    if before is None or state.finished or state.phase != before.phase or state.closed_early:
        return []
    deadline, opens = state.deadline(programme), state.opens_at(programme)
    stamp = deadline.strftime("%Y%m%dT%H%M%SZ")
    return [
        ReminderDue(rule=rule.code, occurrence=f"{before.phase}@{stamp}-{days}d", at=at, deadline=deadline, days=days)
        for days in before.days
        if (at := deadline - state.day(days)) >= opens
    ]


def _after(state: CycleState, rule: ReminderRule) -> list[ReminderDue]:
    after = rule.after
    closed = state.closed_at.get(after.phase) if after else None
    if after is None or closed is None:
        return []
    return [
        ReminderDue(
            rule=rule.code,
            occurrence=f"{after.phase}+{days}d" + (f"-nudge{nudge}" if nudge else ""),
            at=closed + state.day(days + nudge * after.nudge_every_days),
            days=days,
        )
        for days in after.days
        for nudge in range(after.nudges + 1)
    ]
