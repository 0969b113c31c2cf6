"""Reminder rules of a block template: about something a block takes, timed against that block.

A rule names the block and what it is about (one of the block's
``submissions()``: ``study_records``, ``deliverable:plan``, ``task:demo-lesson``,
``survey:m6``, ``return_reports`` …); whoever has not handed that in when the
rule fires is reminded. It fires some days before the block closes, some days
after it closed (with nudges), or some days before a placement task is due. A
rule about something its block does not take, or timed outside the block, is
refused when the template is validated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
from cohortflow.domain.blocks.placement import Placement
from cohortflow.domain.messages import MessageTemplate, Recipients, placeholder_problems
from cohortflow.domain.phrases import phrase
from cohortflow.domain.reminder_rules import (
    MAX_NUDGES,
    ReminderChannel,
    ReminderSettings,
    code_problems,
    coordinator_problems,
    settings_problems,
)


class BlockReminderRule(Frozen):
    code: str
    template: str
    channel: ReminderChannel = "email"
    block: str = Field(description="The block the rule is about")
    about: str = Field(description="What the block takes that the recipients have not handed in yet")
    before_close: tuple[int, ...] = Field(default=(), description="Days before the block closes")
    after_close: tuple[int, ...] = Field(default=(), description="Days after the block closed")
    before_due: tuple[int, ...] = Field(default=(), description="Days before the task named in `about` is due")
    nudges: int = Field(default=0, description=f"Repeats after each `after_close` day, at most {MAX_NUDGES}")
    nudge_every_days: int = 7

    @property
    def recipients(self) -> Recipients:
        """A block's rules remind the participants who have not handed something in."""
        return "participants"


class BlockReminders(ReminderSettings):
    rules: tuple[BlockReminderRule, ...] = ()


def block_reminder_problems(r: BlockReminders, t: TemplateView) -> Iterator[str]:
    yield from settings_problems(r, [rule.code for rule in r.rules])
    templates = {tpl.code: tpl for tpl in r.templates}
    for rule in r.rules:
        yield from _rule_problems(rule, t, templates)
    yield from coordinator_problems(r, t.prefecture_codes)


def _rule_problems(rule: BlockReminderRule, t: TemplateView, templates: Mapping[str, MessageTemplate]) -> Iterator[str]:
    where = phrase("reminder rule {rule}", rule=rule.code)
    yield from code_problems(rule.code)
    template = templates.get(rule.template)
    if template is None:
        yield phrase("{where}: message template {template} does not exist", where=where, template=repr(rule.template))
    else:
        yield from placeholder_problems(template, "participants")
    timings = [days for days in (rule.before_close, rule.after_close, rule.before_due) if days]
    if len(timings) != 1:
        yield phrase(
            "{where}: needs days in exactly one of before_close, after_close or before_due, got {count}",
            where=where,
            count=len(timings),
        )
    block = t.block(rule.block)
    if block is None:
        yield phrase("{where}: block {block} does not exist", where=where, block=repr(rule.block))
        return
    taken = block.submissions()
    if rule.about not in taken:
        if taken:
            yield phrase(
                "{where}: {block} takes no {about} while it is open (it takes {taken})",
                where=where,
                block=block.label,
                about=repr(rule.about),
                taken=", ".join(sorted(taken)),
            )
        else:
            yield phrase(
                "{where}: {block} takes no {about} while it is open (it takes nothing)",
                where=where,
                block=block.label,
                about=repr(rule.about),
            )
        return
    for days in rule.before_close:
        if not 1 <= days < block.length:
            yield phrase(
                "{where}: {days} days before {block} closes falls outside the block ({length} days)",
                where=where,
                days=days,
                block=rule.block,
                length=block.length,
            )
    yield from _after_problems(where, rule, block, t)
    if rule.before_due:
        yield from _due_problems(where, rule, block, t)


def _after_problems(where: str, rule: BlockReminderRule, block: BlockBase, t: TemplateView) -> Iterator[str]:
    if not 0 <= rule.nudges <= MAX_NUDGES:
        yield phrase(
            "{where}: nudges must be 0 to {most}, got {nudges}", where=where, most=MAX_NUDGES, nudges=rule.nudges
        )
    if rule.nudge_every_days < 1:
        yield phrase("{where}: nudge_every_days must be 1 or more", where=where)
    for days in rule.after_close:
        last = block.end_day + days + rule.nudges * rule.nudge_every_days
        if days < 1:
            yield phrase(
                "{where}: {days} days after {block} closes must be 1 or more", where=where, days=days, block=rule.block
            )
        elif last >= t.length_days:
            yield phrase(
                "{where}: day {day} of the programme falls after it ends on day {end}",
                where=where,
                day=last,
                end=t.length_days,
            )


def _due_problems(where: str, rule: BlockReminderRule, block: BlockBase, t: TemplateView) -> Iterator[str]:
    task = rule.about.removeprefix("task:")
    due = block.task_due_day(task, t) if isinstance(block, Placement) and rule.about.startswith("task:") else None
    if due is None:
        yield phrase(
            "{where}: before_due needs a task with a due date, and {about} has none",
            where=where,
            about=repr(rule.about),
        )
        return
    for days in rule.before_due:
        if not 1 <= days <= due - block.start_day:
            yield phrase(
                "{where}: {days} days before {task} is due (day {due}) falls outside {block}",
                where=where,
                days=days,
                task=task,
                due=due,
                block=rule.block,
            )
