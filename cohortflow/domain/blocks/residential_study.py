"""Residential study: sites, batches with capacities, groups with a leader, attendance per day."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.grouping import GroupRules
from cohortflow.domain.blocks.intake import ATTENDANCE, GROUPS, ITEM_SEPARATOR, Intake, Records, SubmissionRow, items
from cohortflow.domain.codes import listed_twice


class Batch(Frozen):
    code: str
    capacity: int
    start_day: int = Field(description="Days after the block opens")
    days: int


class Site(Frozen):
    code: str
    name: str
    batches: tuple[Batch, ...]


class ResidentialStudy(BlockBase):
    INTAKES = (ATTENDANCE, GROUPS)
    kind: Literal["residential_study"] = "residential_study"
    sites: tuple[Site, ...]
    min_attendance_ratio: float = 0.8
    group_size: int | None = Field(default=None, description="People per group, each group with a leader")

    def batch(self, item: str) -> tuple[Site, Batch] | None:
        """The batch an attendance row names: ``site/batch``, a batch code alone, or nothing when there is one."""
        found = [
            (site, b)
            for site in self.sites
            for b in site.batches
            if item in ("", b.code, f"{site.code}{ITEM_SEPARATOR}{b.code}", site.code)
        ]
        return found[0] if len(found) == 1 else None

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        if intake is GROUPS:
            return GroupRules(self.group_size).check(row, ctx)
        where = f"row {row.row}"
        found = self.batch(row.item)
        if found is None:
            named = ", ".join(f"{s.code}/{b.code}" for s in self.sites for b in s.batches)
            what = f"{row.item!r} is not one batch" if row.item else "is needed: the block has several batches"
            return [f"{where}, site/batch: {what} of {self.code} ({named})"]
        days = found[1].days
        present = int(row.number or 0)
        if not 0 <= present <= days:
            return [f"{where}, days_present: {present} is out of range 0–{days} (batch {found[1].code}'s length)"]
        return []

    def tallies(self, intake: Intake, row: SubmissionRow) -> tuple[tuple[str, str], ...]:
        return GroupRules(self.group_size).tallies(row) if intake is GROUPS else ()

    def met(self, records: Records) -> tuple[int, ...] | None:
        for item, rec in items(records, ATTENDANCE.kind).items():
            found = self.batch(item)
            if found and (rec.number or 0) / found[1].days >= self.min_attendance_ratio:
                return (rec.position,)
        return None

    def submissions(self) -> frozenset[str]:
        return frozenset({"attendance", "groups"})

    def problems(self, view: TemplateView) -> Iterator[str]:
        if not self.sites:
            yield f"{self.label}: needs at least one site"
        yield from listed_twice(f"{self.label}: site", [s.code for s in self.sites])
        capacity = sum(b.capacity for s in self.sites for b in s.batches)
        people = view.headcount(self)
        if capacity < people:
            yield f"{self.label}: batches hold {capacity} people, fewer than the {people} who reach it"
        if not 0 <= self.min_attendance_ratio <= 1:
            yield f"{self.label}: min_attendance_ratio must be between 0 and 1"
        if self.group_size is not None and self.group_size < 2:
            yield f"{self.label}: group_size must be at least 2 (a leader and a member)"
        for site in self.sites:
            if not site.batches:
                yield f"{self.label}: site {site.code} has no batches"
            for b in site.batches:
                if b.capacity <= 0 or b.days <= 0 or b.start_day < 0:
                    yield f"{self.label}: site {site.code} batch {b.code}: capacity and days must be positive"
                elif b.start_day + b.days > self.length:
                    yield f"{self.label}: site {site.code} batch {b.code} runs past the end of the block"
            spans = sorted((b.start_day, b.start_day + b.days, b.code) for b in site.batches)
            for (_, end, code), (start, _, nxt) in itertools.combinations(spans, 2):
                if start < end:
                    yield f"{self.label}: site {site.code}: batches {code} and {nxt} overlap"
