"""Online study: self-paced hours and deliverables within a window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.intake import DELIVERABLES, STUDY_RECORDS, Intake, Records, SubmissionRow, items, one
from cohortflow.domain.codes import duplicates
from cohortflow.domain.phrases import phrase


class Deliverable(Frozen):
    code: str
    name: str


class OnlineStudy(BlockBase):
    INTAKES = (STUDY_RECORDS, DELIVERABLES)
    kind: Literal["online_study"] = "online_study"
    min_hours: float = Field(default=0, description="Hours a participant must reach to meet the block")
    deliverables: tuple[Deliverable, ...] = ()
    required_deliverables: tuple[str, ...] = ()

    def submissions(self) -> frozenset[str]:
        return frozenset({"study_records", *(f"deliverable:{d.code}" for d in self.deliverables)})

    @property
    def max_hours(self) -> float:
        """More hours than the block has cannot be real."""
        return float(self.length * 24)

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = phrase("row {row}", row=row.row)
        if intake is STUDY_RECORDS:
            hours = row.number or 0.0
            if not 0 <= hours <= self.max_hours:
                return [
                    phrase(
                        "{where}, hours: {hours} is out of range 0–{max_hours} ({block}'s length)",
                        where=where,
                        hours=f"{hours:g}",
                        max_hours=f"{self.max_hours:g}",
                        block=self.code,
                    )
                ]
            return []
        known = [d.code for d in self.deliverables]
        if row.item not in known:
            return [
                phrase(
                    "{where}, deliverable: {deliverable} is not a deliverable of {block} ({known})",
                    where=where,
                    deliverable=repr(row.item),
                    block=self.code,
                    known=", ".join(known),
                )
            ]
        return []

    def hours(self, records: Records) -> float:
        found = one(records, STUDY_RECORDS.kind)
        return (found.number or 0.0) if found else 0.0

    def handed_in(self, records: Records) -> tuple[str, ...]:
        return tuple(sorted(items(records, DELIVERABLES.kind)))

    def done(self, about: str, records: Records) -> bool:
        if about == STUDY_RECORDS.kind:
            return self.hours(records) >= self.min_hours and one(records, STUDY_RECORDS.kind) is not None
        return super().done(about, records)

    def met(self, records: Records) -> tuple[int, ...] | None:
        if not records or self.hours(records) < self.min_hours:
            return None
        handed = items(records, DELIVERABLES.kind)
        if not set(self.required_deliverables) <= handed.keys():
            return None
        return tuple(sorted(r.position for r in records.values()))

    def problems(self, view: TemplateView) -> Iterator[str]:
        if self.min_hours < 0:
            yield phrase(
                "{block}: min_hours must not be negative, got {min_hours}", block=self.label, min_hours=self.min_hours
            )
        for code in duplicates(d.code for d in self.deliverables):
            yield phrase(
                "{block}: deliverable {deliverable} is listed more than once", block=self.label, deliverable=code
            )
        known = {d.code for d in self.deliverables}
        for code in self.required_deliverables:
            if code not in known:
                yield phrase(
                    "{block}: required deliverable {code} is not one of its deliverables",
                    block=self.label,
                    code=repr(code),
                )
