"""Online study: self-paced hours and deliverables within a window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
from cohortflow.domain.codes import listed_twice


class Deliverable(Frozen):
    code: str
    name: str


class OnlineStudy(BlockBase):
    kind: Literal["online_study"] = "online_study"
    min_hours: float = Field(default=0, description="Hours a participant must reach to meet the block")
    deliverables: tuple[Deliverable, ...] = ()
    required_deliverables: tuple[str, ...] = ()

    def submissions(self) -> frozenset[str]:
        return frozenset({"study_records", *(f"deliverable:{d.code}" for d in self.deliverables)})

    def problems(self, view: TemplateView) -> Iterator[str]:
        if self.min_hours < 0:
            yield f"{self.label}: min_hours must not be negative, got {self.min_hours}"
        yield from listed_twice(f"{self.label}: deliverable", [d.code for d in self.deliverables])
        known = {d.code for d in self.deliverables}
        for code in self.required_deliverables:
            if code not in known:
                yield f"{self.label}: required deliverable {code!r} is not one of its deliverables"
