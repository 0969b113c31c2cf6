"""Placement (挂职/跟岗): people placed at host schools, a mentor each, in groups, working through a checklist.

Each host has a capacity and a school level that participants are matched to;
each task of the checklist has a target count, an optional pace, a due date and
whether it is assessed; a daily log, the host's assessment and a report back
home complete the placement.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.grouping import GroupRules
from cohortflow.domain.blocks.intake import (
    DAILY_LOG,
    GROUPS,
    HOME_REPORT,
    HOST_ASSESSMENT,
    MENTORS,
    PLACEMENTS,
    TASKS,
    Intake,
    Records,
    SubmissionRow,
    items,
    one,
)
from cohortflow.domain.codes import duplicates
from cohortflow.domain.phrases import phrase

SchoolLevel = Literal["kindergarten", "primary", "junior", "senior", "nine_year", "twelve_year", "vocational"]


class Host(Frozen):
    code: str
    name: str
    city: str = ""
    school_level: SchoolLevel
    capacity: int
    mentors: int = Field(default=0, description="Mentors the host provides; who mentors whom arrives by import")


class Task(Frozen):
    code: str
    name: str
    target: int = Field(default=1, description="How many are to be done (lessons observed, papers…)")
    rate: Literal["per_day", "per_week"] | None = Field(
        default=None, description="The target is counted per day or per week of the placement"
    )
    due_date: date | None = Field(default=None, description="A calendar date (needs the template's starts_on)")
    due_after_days: int | None = Field(default=None, description="Days after the block opens")
    assessed: bool = False
    min_length: int | None = Field(default=None, description="Minimum length in characters, e.g. of a summary")


class Placement(BlockBase):
    INTAKES = (PLACEMENTS, MENTORS, GROUPS, TASKS, DAILY_LOG, HOST_ASSESSMENT, HOME_REPORT)
    kind: Literal["placement"] = "placement"
    hosts: tuple[Host, ...]
    match_school_level: bool = True
    mentor_per_participant: bool = True
    group_size: int | None = Field(default=None, description="People per group, each group with a leader")
    tasks: tuple[Task, ...] = ()
    daily_log: bool = True
    host_assessment_pass_mark: float | None = Field(default=60, description="None: the host does not assess")
    report_home: bool = True

    def submissions(self) -> frozenset[str]:
        kinds = {"placements", "mentors", "groups", *(f"task:{t.code}" for t in self.tasks)}
        if self.daily_log:
            kinds.add("daily_log")
        if self.host_assessment_pass_mark is not None:
            kinds.add("host_assessment")
        if self.report_home:
            kinds.add("home_report")
        return frozenset(kinds)

    def intake(self, kind: str) -> Intake | None:
        off: dict[str, bool] = {
            DAILY_LOG.kind: not self.daily_log,
            HOST_ASSESSMENT.kind: self.host_assessment_pass_mark is None,
            HOME_REPORT.kind: not self.report_home,
        }
        return None if off.get(kind) else super().intake(kind)

    def required_count(self, task: Task) -> int:
        """A task's target over the whole placement: per day or per week of it when the task has a rate."""
        if task.rate == "per_day":
            return task.target * self.length
        if task.rate == "per_week":
            return task.target * math.ceil(self.length / 7)
        return task.target

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = phrase("row {row}", row=row.row)
        if intake is GROUPS:
            return GroupRules(self.group_size).check(row, ctx)
        if intake is PLACEMENTS:
            return self._placement_problems(where, row, ctx)
        if intake is TASKS:
            task = next((t for t in self.tasks if t.code == row.item), None)
            if task is None:
                known = ", ".join(t.code for t in self.tasks)
                return [
                    phrase(
                        "{where}, task: {task} is not a task of {block} ({known})",
                        where=where,
                        task=repr(row.item),
                        block=self.code,
                        known=known,
                    )
                ]
            problems = []
            if (row.number or 0) < 0:
                problems.append(phrase("{where}, count: must not be negative", where=where))
            if task.min_length is not None and len(row.text.strip()) < task.min_length:
                problems.append(
                    phrase(
                        "{where}, summary: {length} characters, fewer than the {min_length} task {task} asks for",
                        where=where,
                        length=len(row.text.strip()),
                        min_length=task.min_length,
                        task=task.code,
                    )
                )
            return problems
        if intake is DAILY_LOG:
            try:
                date.fromisoformat(row.item)
            except ValueError:
                return [
                    phrase(
                        "{where}, date: {date} is not a date; write it like 2027-03-15",
                        where=where,
                        date=repr(row.item),
                    )
                ]
        if intake is HOST_ASSESSMENT and not 0 <= (row.number or 0) <= 100:
            return [
                phrase(
                    "{where}, score: {score} is out of range 0–{max_score}",
                    where=where,
                    score=f"{row.number:g}",
                    max_score="100",
                )
            ]
        return []

    def _placement_problems(self, where: str, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        host = next((h for h in self.hosts if h.code == row.item), None)
        if host is None:
            return [
                phrase(
                    "{where}, host: {host} is not a host school of {block}",
                    where=where,
                    host=repr(row.item),
                    block=self.code,
                )
            ]
        placed = items(ctx.mine, PLACEMENTS.kind)
        if row.item in placed:
            return []
        problems = []
        if placed:
            problems.append(
                phrase(
                    "{where}, participant_id: {participant_id} is already placed at {host}",
                    where=where,
                    participant_id=row.participant_id,
                    host=next(iter(placed)),
                )
            )
        if self.match_school_level and ctx.school_level != host.school_level:
            level = ctx.school_level or phrase("no school level (nominate them with one)")
            problems.append(
                phrase(
                    "{where}, host: {host} is a {host_level} school; the participant has {level}",
                    where=where,
                    host=host.code,
                    host_level=host.school_level,
                    level=level,
                )
            )
        if ctx.counts.get((PLACEMENTS.kind, host.code), 0) >= host.capacity:
            problems.append(
                phrase(
                    "{where}, host: {host} is full ({capacity} places)",
                    where=where,
                    host=host.code,
                    capacity=host.capacity,
                )
            )
        return problems

    def tallies(self, intake: Intake, row: SubmissionRow) -> tuple[tuple[str, str], ...]:
        if intake is GROUPS:
            return GroupRules(self.group_size).tallies(row)
        return ((PLACEMENTS.kind, row.item),) if intake is PLACEMENTS else ()

    def done(self, about: str, records: Records) -> bool:
        task = next((t for t in self.tasks if about == f"task:{t.code}"), None)
        if task is not None:
            count = one(records, TASKS.kind, task.code)
            return count is not None and (count.number or 0) >= self.required_count(task)
        return super().done(about, records)

    def met(self, records: Records) -> tuple[int, ...] | None:
        placed = items(records, PLACEMENTS.kind)
        done = items(records, TASKS.kind)
        if not placed or any(
            (done[t.code].number or 0) < self.required_count(t) if t.code in done else True for t in self.tasks
        ):
            return None
        used = [*placed.values(), *(done[t.code] for t in self.tasks)]
        if self.host_assessment_pass_mark is not None:
            assessment = one(records, HOST_ASSESSMENT.kind)
            if assessment is None or (assessment.number or 0) < self.host_assessment_pass_mark:
                return None
            used.append(assessment)
        if self.report_home:
            report = one(records, HOME_REPORT.kind)
            if report is None:
                return None
            used.append(report)
        return tuple(sorted(r.position for r in used))

    def due_day(self, task: Task, view: TemplateView) -> int | None:
        """The programme day a task is due, if it has a due date that can be placed."""
        if task.due_after_days is not None:
            return self.start_day + task.due_after_days
        if task.due_date is not None and view.starts_on is not None:
            return (task.due_date - view.starts_on).days
        return None

    def task_due_day(self, code: str, view: TemplateView) -> int | None:
        """The programme day task ``code`` is due, if the block has that task and it has a due date."""
        task = next((t for t in self.tasks if t.code == code), None)
        return None if task is None else self.due_day(task, view)

    def problems(self, view: TemplateView) -> Iterator[str]:
        yield from self._host_problems(view)
        yield from self._task_problems(view)
        if self.group_size is not None and self.group_size < 2:
            yield phrase("{block}: group_size must be at least 2 (a leader and a member)", block=self.label)
        if self.host_assessment_pass_mark is not None and not 0 <= self.host_assessment_pass_mark <= 100:
            yield phrase("{block}: host_assessment_pass_mark must be between 0 and 100", block=self.label)

    def _host_problems(self, view: TemplateView) -> Iterator[str]:
        people = view.headcount(self)
        if not self.hosts:
            yield phrase("{block}: needs at least one host school", block=self.label)
        for code in duplicates(h.code for h in self.hosts):
            yield phrase("{block}: host {host} is listed more than once", block=self.label, host=code)
        for host in self.hosts:
            if host.capacity <= 0:
                yield phrase("{block}: host {host} capacity must be positive", block=self.label, host=host.code)
        capacity = sum(max(h.capacity, 0) for h in self.hosts)
        if capacity < people:
            yield phrase(
                "{block}: host schools hold {capacity} people, fewer than the {people} to be placed",
                block=self.label,
                capacity=capacity,
                people=people,
            )
            if host.mentors < 0:
                yield phrase("{block}: host {host} mentors must not be negative", block=self.label, host=host.code)
        mentors = sum(max(h.mentors, 0) for h in self.hosts)
        if self.mentor_per_participant and mentors < people:
            yield phrase(
                "{block}: the hosts provide {mentors} mentors for {people} participants; each needs one",
                block=self.label,
                mentors=mentors,
                people=people,
            )

    def _task_problems(self, view: TemplateView) -> Iterator[str]:
        for code in duplicates(t.code for t in self.tasks):
            yield phrase("{block}: task {task} is listed more than once", block=self.label, task=code)
        for task in self.tasks:
            where = phrase("{block}: task {task}", block=self.label, task=task.code)
            if task.target <= 0:
                yield phrase("{where}: target must be positive, got {target}", where=where, target=task.target)
            if task.min_length is not None and task.min_length <= 0:
                yield phrase("{where}: min_length must be positive", where=where)
            if task.due_date is not None and task.due_after_days is not None:
                yield phrase("{where}: give due_date or due_after_days, not both", where=where)
            elif task.due_date is not None and view.starts_on is None:
                yield phrase("{where}: a calendar due_date needs the template's starts_on", where=where)
            due = self.due_day(task, view)
            if due is not None and not self.start_day <= due <= self.end_day:
                yield phrase(
                    "{where}: due on day {due}, outside the block (days {start_day}–{end_day})",
                    where=where,
                    due=due,
                    start_day=self.start_day,
                    end_day=self.end_day,
                )
