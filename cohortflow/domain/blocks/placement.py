"""Placement (挂职/跟岗): people placed at host schools, a mentor each, in groups, working through a checklist.

Each host has a capacity and a school level that participants are matched to;
each task of the checklist has a target count, an optional pace, a due date and
whether it is assessed; a daily log, the host's assessment and a report back
home complete the placement.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
from cohortflow.domain.codes import listed_twice

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
            yield f"{self.label}: group_size must be at least 2 (a leader and a member)"
        if self.host_assessment_pass_mark is not None and not 0 <= self.host_assessment_pass_mark <= 100:
            yield f"{self.label}: host_assessment_pass_mark must be between 0 and 100"

    def _host_problems(self, view: TemplateView) -> Iterator[str]:
        people = view.headcount(self)
        if not self.hosts:
            yield f"{self.label}: needs at least one host school"
        yield from listed_twice(f"{self.label}: host", [h.code for h in self.hosts])
        for host in self.hosts:
            if host.capacity <= 0:
                yield f"{self.label}: host {host.code} capacity must be positive"
        capacity = sum(max(h.capacity, 0) for h in self.hosts)
        if capacity < people:
            yield f"{self.label}: host schools hold {capacity} people, fewer than the {people} to be placed"
            if host.mentors < 0:
                yield f"{self.label}: host {host.code} mentors must not be negative"
        mentors = sum(max(h.mentors, 0) for h in self.hosts)
        if self.mentor_per_participant and mentors < people:
            yield f"{self.label}: the hosts provide {mentors} mentors for {people} participants; each needs one"

    def _task_problems(self, view: TemplateView) -> Iterator[str]:
        yield from listed_twice(f"{self.label}: task", [t.code for t in self.tasks])
        for task in self.tasks:
            where = f"{self.label}: task {task.code}"
            if task.target <= 0:
                yield f"{where}: target must be positive, got {task.target}"
            if task.min_length is not None and task.min_length <= 0:
                yield f"{where}: min_length must be positive"
            if task.due_date is not None and task.due_after_days is not None:
                yield f"{where}: give due_date or due_after_days, not both"
            elif task.due_date is not None and view.starts_on is None:
                yield f"{where}: a calendar due_date needs the template's starts_on"
            due = self.due_day(task, view)
            if due is not None and not self.start_day <= due <= self.end_day:
                yield f"{where}: due on day {due}, outside the block (days {self.start_day}–{self.end_day})"
