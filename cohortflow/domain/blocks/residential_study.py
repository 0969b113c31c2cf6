"""Residential study: sites, batches with capacities, groups with a leader, attendance per day."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
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
    kind: Literal["residential_study"] = "residential_study"
    sites: tuple[Site, ...]
    min_attendance_ratio: float = 0.8
    group_size: int | None = Field(default=None, description="People per group, each group with a leader")

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
