"""Enrolment: nomination within quotas per prefecture and per track, or direct enrolment of a given list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, TemplateView
from cohortflow.domain.blocks.intake import NOMINEES
from cohortflow.domain.phrases import phrase


class Enrolment(BlockBase):
    HAS_CRITERION: ClassVar[bool] = False

    INTAKES = (NOMINEES,)
    kind: Literal["enrolment"] = "enrolment"
    mode: Literal["nomination", "direct"] = Field(
        default="nomination",
        description="nomination: prefectures nominate within their quotas; direct: a given list is enrolled",
    )

    def submissions(self) -> frozenset[str]:
        return frozenset({"nominees"})

    def problems(self, view: TemplateView) -> Iterator[str]:
        if self.start_day != 0:
            yield phrase("{block}: enrolment opens the programme, so it must start on day 0", block=self.label)
