"""When a block template's reminder rules fire, and who has still to hand in what they are about.

Like the seven-phase schedule (:mod:`cohortflow.domain.reminder_schedule`),
one moment per rule and occurrence, never per person; the cohort workflow
keeps one timer for the earliest. A rule fires some days before its block
closes (while it is open and not being closed early), some days after it
closed (with nudges), or some days before a placement task is due.
"""

from __future__ import annotations

from datetime import datetime

from cohortflow.domain.block_cycle import BlockCycleState
from cohortflow.domain.block_progress import reaches
from cohortflow.domain.blocks.placement import Placement
from cohortflow.domain.blocks.reminders import BlockReminderRule
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.reminder_schedule import ReminderDue
from cohortflow.domain.template import ProgrammeTemplate


def block_reminders_due(template: ProgrammeTemplate, state: BlockCycleState) -> list[ReminderDue]:
    """Every occurrence the template's rules schedule as things stand, earliest first."""
    rules = template.reminders.rules if template.reminders else ()
    due = [d for rule in rules for d in (*_before(template, state, rule), *_after(state, rule))]
    return sorted(due, key=lambda d: (d.at, d.rule, d.occurrence))


def _before(template: ProgrammeTemplate, state: BlockCycleState, rule: BlockReminderRule) -> list[ReminderDue]:
    code = rule.block
    if not state.is_open(code) or code in state.closing:
        return []
    opened = state.opens_at(template, code)
    if rule.before_close:
        deadline, days_list, what = state.closes_at(template, code), rule.before_close, code
    else:
        block = template.block(code)
        task = rule.about.removeprefix("task:")
        due_day = block.task_due_day(task, template) if isinstance(block, Placement) else None
        if due_day is None:
            return []
        deadline, days_list, what = state.started_at + state.day(due_day), rule.before_due, rule.about
    stamp = _stamp(deadline)
    return [
        ReminderDue(rule=rule.code, occurrence=f"{what}@{stamp}-{days}d", at=at, deadline=deadline, days=days)
        for days in days_list
        if (at := deadline - state.day(days)) >= opened
    ]


def _after(state: BlockCycleState, rule: BlockReminderRule) -> list[ReminderDue]:
    closed = state.closed_at.get(rule.block)
    if not rule.after_close or closed is None:
        return []
    return [
        ReminderDue(
            rule=rule.code,
            occurrence=f"{rule.block}+{days}d" + (f"-nudge{nudge}" if nudge else ""),
            at=closed + state.day(days + nudge * rule.nudge_every_days),
            days=days,
        )
        for days in rule.after_close
        for nudge in range(rule.nudges + 1)
    ]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def still_to_hand_in(template: ProgrammeTemplate, facts: CohortFacts, rule: BlockReminderRule) -> list[str]:
    """Who the rule's block is for and has not handed in what the rule is about, in participant order."""
    block = template.block(rule.block)
    if block is None:
        return []
    return [
        pid
        for pid in sorted(facts.participants)
        if reaches(template, facts, p := facts.participants[pid], block)
        and not block.done(rule.about, p.records(block.code))
    ]
