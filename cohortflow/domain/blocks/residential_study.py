"""Residential study: sites, batches with capacities, groups with a leader, attendance per day."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.grouping import GroupRules
from cohortflow.domain.blocks.intake import ATTENDANCE, GROUPS, ITEM_SEPARATOR, Intake, Records, SubmissionRow, items
from cohortflow.domain.codes import duplicates
from cohortflow.domain.phrases import phrase


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
        where = phrase("row {row}", row=row.row)
        found = self.batch(row.item)
        if found is None:
            named = ", ".join(f"{s.code}/{b.code}" for s in self.sites for b in s.batches)
            if row.item:
                return [
                    phrase(
                        "{where}, site/batch: {item} is not one batch of {block} ({named})",
                        where=where,
                        item=repr(row.item),
                        block=self.code,
                        named=named,
                    )
                ]
            return [
                phrase(
                    "{where}, site/batch: is needed: the block has several batches of {block} ({named})",
                    where=where,
                    block=self.code,
                    named=named,
                )
            ]
        days = found[1].days
        present = int(row.number or 0)
        if not 0 <= present <= days:
            return [
                phrase(
                    "{where}, days_present: {present} is out of range 0–{days} (batch {batch}'s length)",
                    where=where,
                    present=present,
                    days=days,
                    batch=found[1].code,
                )
            ]
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
            yield phrase("{block}: needs at least one site", block=self.label)
        for code in duplicates(s.code for s in self.sites):
            yield phrase("{block}: site {site} is listed more than once", block=self.label, site=code)
        capacity = sum(b.capacity for s in self.sites for b in s.batches)
        people = view.headcount(self)
        if capacity < people:
            yield phrase(
                "{block}: batches hold {capacity} people, fewer than the {people} who reach it",
                block=self.label,
                capacity=capacity,
                people=people,
            )
        if not 0 <= self.min_attendance_ratio <= 1:
            yield phrase("{block}: min_attendance_ratio must be between 0 and 1", block=self.label)
        if self.group_size is not None and self.group_size < 2:
            yield phrase("{block}: group_size must be at least 2 (a leader and a member)", block=self.label)
        for site in self.sites:
            if not site.batches:
                yield phrase("{block}: site {site} has no batches", block=self.label, site=site.code)
            for b in site.batches:
                if b.capacity <= 0 or b.days <= 0 or b.start_day < 0:
                    yield phrase(
                        "{block}: site {site} batch {batch}: capacity and days must be positive",
                        block=self.label,
                        site=site.code,
                        batch=b.code,
                    )
                elif b.start_day + b.days > self.length:
                    yield phrase(
                        "{block}: site {site} batch {batch} runs past the end of the block",
                        block=self.label,
                        site=site.code,
                        batch=b.code,
                    )
            spans = sorted((b.start_day, b.start_day + b.days, b.code) for b in site.batches)
            for (_, end, code), (start, _, nxt) in itertools.combinations(spans, 2):
                if start < end:
                    yield phrase(
                        "{block}: site {site}: batches {batch} and {other} overlap",
                        block=self.label,
                        site=site.code,
                        batch=code,
                        other=nxt,
                    )
