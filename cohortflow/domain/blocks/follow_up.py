"""Follow-up (训后跟踪): surveys at offsets after the block opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.intake import RATING, SURVEYS, Intake, Records, SubmissionRow, items
from cohortflow.domain.codes import listed_twice


class Survey(Frozen):
    code: str
    after_days: int = Field(description="Days after the block opens")


class FollowUp(BlockBase):
    INTAKES = (SURVEYS,)
    kind: Literal["follow_up"] = "follow_up"
    surveys: tuple[Survey, ...] = ()

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = f"row {row.row}"
        problems = []
        known = [s.code for s in self.surveys]
        if row.item not in known:
            problems.append(f"{where}, survey: {row.item!r} is not a survey of {self.code} ({', '.join(known)})")
        low, high = RATING
        if not low <= (row.number or 0) <= high:
            problems.append(f"{where}, satisfaction: {row.number:g} is out of range {low}–{high}")
        return problems

    def met(self, records: Records) -> tuple[int, ...] | None:
        answered = items(records, SURVEYS.kind)
        if not self.surveys or any(s.code not in answered for s in self.surveys):
            return None
        return tuple(sorted(answered[s.code].position for s in self.surveys))

    def submissions(self) -> frozenset[str]:
        return frozenset(f"survey:{s.code}" for s in self.surveys)

    def problems(self, view: TemplateView) -> Iterator[str]:
        yield from listed_twice(f"{self.label}: survey", [s.code for s in self.surveys])
        for s in self.surveys:
            if not 0 <= s.after_days <= self.length:
                yield f"{self.label}: survey {s.code}: after_days {s.after_days} falls outside the block"
