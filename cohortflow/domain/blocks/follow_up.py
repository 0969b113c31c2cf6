"""Follow-up (训后跟踪): surveys at offsets after the block opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.intake import RATING, SURVEYS, Intake, Records, SubmissionRow, items
from cohortflow.domain.codes import duplicates
from cohortflow.domain.phrases import phrase


class Survey(Frozen):
    code: str
    after_days: int = Field(description="Days after the block opens")


class FollowUp(BlockBase):
    INTAKES = (SURVEYS,)
    kind: Literal["follow_up"] = "follow_up"
    surveys: tuple[Survey, ...] = ()

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = phrase("row {row}", row=row.row)
        problems = []
        known = [s.code for s in self.surveys]
        if row.item not in known:
            problems.append(
                phrase(
                    "{where}, survey: {survey} is not a survey of {block} ({known})",
                    where=where,
                    survey=repr(row.item),
                    block=self.code,
                    known=", ".join(known),
                )
            )
        low, high = RATING
        if not low <= (row.number or 0) <= high:
            problems.append(
                phrase(
                    "{where}, satisfaction: {value} is out of range {low}–{high}",
                    where=where,
                    value=f"{row.number:g}",
                    low=low,
                    high=high,
                )
            )
        return problems

    def met(self, records: Records) -> tuple[int, ...] | None:
        answered = items(records, SURVEYS.kind)
        if not self.surveys or any(s.code not in answered for s in self.surveys):
            return None
        return tuple(sorted(answered[s.code].position for s in self.surveys))

    def submissions(self) -> frozenset[str]:
        return frozenset(f"survey:{s.code}" for s in self.surveys)

    def problems(self, view: TemplateView) -> Iterator[str]:
        for code in duplicates(s.code for s in self.surveys):
            yield phrase("{block}: survey {survey} is listed more than once", block=self.label, survey=code)
        for s in self.surveys:
            if not 0 <= s.after_days <= self.length:
                yield phrase(
                    "{block}: survey {survey}: after_days {after_days} falls outside the block",
                    block=self.label,
                    survey=s.code,
                    after_days=s.after_days,
                )
