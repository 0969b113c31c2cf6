"""Selection: the declared rule ranks the participants of earlier blocks; the best go on, others wait."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, TemplateView
from cohortflow.domain.phrases import phrase


class SelectionRule(Frozen):
    """Score = hours_weight × min(hours, hours_cap) + deliverable_weight × deliverables.

    Ties go to more hours, then to the earlier nomination (lower participant id), so the same facts always
    give the same ordered list.
    """

    version: int = 1
    target: int = Field(description="How many are selected")
    waiting_list: int = 0
    hours_weight: float = 1.0
    hours_cap: float | None = None
    deliverable_weight: float = 10.0

    def problems(self, where: str, candidates: int) -> Iterator[str]:
        if self.target <= 0:
            yield phrase("{where}: selection target must be positive, got {target}", where=where, target=self.target)
        elif self.target > candidates:
            yield phrase(
                "{where}: selection target {target} is above the {candidates} people who reach it",
                where=where,
                target=self.target,
                candidates=candidates,
            )
        if self.waiting_list < 0:
            yield phrase("{where}: waiting_list must not be negative", where=where)
        if self.hours_cap is not None and self.hours_cap < 0:
            yield phrase("{where}: hours_cap must not be negative", where=where)


class Selection(BlockBase):
    HAS_CRITERION: ClassVar[bool] = False

    kind: Literal["selection"] = "selection"
    scores_from: str = Field(description="The online-study block whose hours and deliverables are scored")
    rule: SelectionRule | None = Field(default=None, description="The rule for tracks that declare none of their own")
    replace_until: str | None = Field(
        default=None, description="Withdrawn places are refilled from the waiting list until this block opens"
    )

    def problems(self, view: TemplateView) -> Iterator[str]:
        source = view.block(self.scores_from)
        if source is None or source.kind != "online_study":
            yield phrase(
                "{block}: scores_from {scores_from} is not an online-study block",
                block=self.label,
                scores_from=repr(self.scores_from),
            )
        elif source.end_day > self.start_day:
            yield phrase(
                "{block}: it starts before {scores_from}, whose results it scores, has ended",
                block=self.label,
                scores_from=self.scores_from,
            )
        if self.replace_until is not None:
            until = view.block(self.replace_until)
            if until is None:
                yield phrase(
                    "{block}: replace_until names unknown block {until}",
                    block=self.label,
                    until=repr(self.replace_until),
                )
            elif until.start_day < self.end_day:
                yield phrase(
                    "{block}: replace_until {until} opens before the selection ends",
                    block=self.label,
                    until=self.replace_until,
                )
