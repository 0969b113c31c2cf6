"""What every block has: a code, a window of days, the tracks it applies to, credits and funding.

A block checks its own settings against a :class:`TemplateView`, the read-only
view of the template around it (its length, years, tracks, head counts), so a
block kind never needs to know about the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain.blocks.intake import Intake, Records, SubmissionRow
from cohortflow.domain.phrases import phrase

CreditLevel = Literal["province", "city", "district", "school"]
Payer = Literal["organiser", "province", "prefecture", "county", "district", "school", "participant"]
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreditGrant(Frozen):
    """Hours granted to each participant who meets the block's criterion, at one level."""

    hours: float = Field(gt=0)
    level: CreditLevel


class FundingLine(Frozen):
    """Who pays for what in this block, e.g. training by the prefecture, travel and board by the county."""

    item: str = Field(description="What is paid for, e.g. training, travel, board")
    payer: Payer
    per_person_yuan: float | None = Field(default=None, ge=0)


class TemplateView(Protocol):
    """What a block may ask of the template it sits in."""

    @property
    def length_days(self) -> int:
        """The day the programme ends: the last block's end."""
        ...

    @property
    def starts_on(self) -> date | None:
        """The calendar date of day 0, when the template names one."""
        ...

    def year_window(self, year: int) -> tuple[int, int] | None:
        """Days [start, end) of a declared programme year, or None if the template has no such year."""
        ...

    def headcount(self, block: BlockBase) -> int:
        """How many people reach ``block``: its tracks' quotas, or their selection targets after a selection."""
        ...

    def has_track(self, code: str) -> bool: ...

    def block(self, code: str) -> BlockBase | None:
        """Another block of the template, by code."""
        ...

    @property
    def prefecture_codes(self) -> set[str]: ...


@dataclass(frozen=True)
class RecordContext:
    """What a record is checked against besides the block's settings."""

    mine: Records
    """The participant's records in this block so far."""
    counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Participants per tally key (see :meth:`BlockBase.tallies`) in this block, this file's earlier rows included."""
    school_level: str | None = None


class BlockBase(Frozen):
    """Settings shared by every block kind; each kind adds its own and a ``kind`` tag."""

    HAS_CRITERION: ClassVar[bool] = True
    """Whether a participant can meet this kind's criterion, and so earn its credits or count toward completion."""
    INTAKES: ClassVar[tuple[Intake, ...]] = ()
    """The import kinds the block takes while it is open."""

    kind: str
    code: str = Field(description="Unique within the template; imports, reminders and completion name blocks by it")
    name: str = ""
    start_day: int = Field(description="Day the block opens, counted from the cohort's start (day 0)")
    end_day: int = Field(description="Day the block closes (exclusive)")
    year: int | None = Field(default=None, description="The programme year the block belongs to, if years are declared")
    tracks: tuple[str, ...] = Field(default=(), description="Tracks the block applies to; empty means every track")
    credits: CreditGrant | None = None
    funding: tuple[FundingLine, ...] = ()

    @property
    def label(self) -> str:
        return phrase("block {code} ({kind})", code=self.code, kind=self.kind)

    @property
    def length(self) -> int:
        return self.end_day - self.start_day

    def applies_to(self, track: str) -> bool:
        return not self.tracks or track in self.tracks

    def intake(self, kind: str) -> Intake | None:
        return next((i for i in self.INTAKES if i.kind == kind), None)

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        """The problems of one record against the block's settings (known items, ranges, capacities)."""
        return []

    def tallies(self, intake: Intake, row: SubmissionRow) -> tuple[tuple[str, str], ...]:
        """Keys a record counts toward, for limits such as a host's capacity or one leader per group."""
        return ()

    def done(self, about: str, records: Records) -> bool:
        """Whether the participant has handed in ``about`` (one of :meth:`submissions`): reminders skip them."""
        for intake in self.INTAKES:
            prefix = f"{intake.submission}:" if intake.submission else None
            if prefix and about.startswith(prefix):
                return (intake.kind, about.removeprefix(prefix)) in records
            if about == intake.kind:
                return any(kind == intake.kind for kind, _ in records)
        return False

    def met(self, records: Records) -> tuple[int, ...] | None:
        """The positions of the records that meet the block's criterion, or None when it is not met."""
        return None

    def submissions(self) -> frozenset[str]:
        """What participants can hand in while this block is open (reminders may only ask for these)."""
        return frozenset()

    def problems(self, view: TemplateView) -> Iterator[str]:
        """The kind's own checks; the common ones are in :meth:`common_problems`."""
        return iter(())

    def common_problems(self, view: TemplateView) -> Iterator[str]:
        if not CODE.fullmatch(self.code):
            yield phrase("{block}: code must be letters, digits, '.', '_' or '-'", block=self.label)
        if self.start_day < 0 or self.end_day <= self.start_day:
            yield phrase(
                "{block}: end_day {end_day} must come after start_day {start_day} (≥ 0)",
                block=self.label,
                end_day=self.end_day,
                start_day=self.start_day,
            )
        if self.year is not None:
            window = view.year_window(self.year)
            if window is None:
                yield phrase(
                    "{where}: year {year} is not one of the programme's years", where=self.label, year=self.year
                )
            elif not (window[0] <= self.start_day and self.end_day <= window[1]):
                yield phrase(
                    "{block}: days {start_day}–{end_day} fall outside year {year} (days {first}–{last})",
                    block=self.label,
                    start_day=self.start_day,
                    end_day=self.end_day,
                    year=self.year,
                    first=window[0],
                    last=window[1],
                )
        for track in self.tracks:
            if not view.has_track(track):
                yield phrase("{block}: unknown track {track}", block=self.label, track=repr(track))
        if self.credits is not None and not self.HAS_CRITERION:
            yield phrase(
                "{block}: a {kind} block grants no credits; remove its credits", block=self.label, kind=self.kind
            )
        for line in self.funding:
            if not line.item.strip():
                yield phrase("{block}: a funding line needs an item", block=self.label)
