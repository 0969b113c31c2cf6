"""Follow-up (训后跟踪): surveys at offsets after the block opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
from cohortflow.domain.codes import listed_twice


class Survey(Frozen):
    code: str
    after_days: int = Field(description="Days after the block opens")


class FollowUp(BlockBase):
    kind: Literal["follow_up"] = "follow_up"
    surveys: tuple[Survey, ...] = ()

    def submissions(self) -> frozenset[str]:
        return frozenset(f"survey:{s.code}" for s in self.surveys)

    def problems(self, view: TemplateView) -> Iterator[str]:
        yield from listed_twice(f"{self.label}: survey", [s.code for s in self.surveys])
        for s in self.surveys:
            if not 0 <= s.after_days <= self.length:
                yield f"{self.label}: survey {s.code}: after_days {s.after_days} falls outside the block"
