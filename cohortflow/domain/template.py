"""Programme templates as a composition of typed blocks.

A template lists its stages in order; each stage is a block of a registered
kind (:mod:`cohortflow.domain.blocks.registry`) with its own settings and a
window of days. Blocks may be tied to programme years (each with a theme) and
to tracks (each with its own quotas per prefecture and selection rule). Every
shape of the design brief is an arrangement of the same blocks: the
province-wide online → offline selection, multi-year multi-track leader
programmes, field placements and short qualification programmes.

Pydantic checks the shape; :func:`template_problems` checks the meaning and
lists every contradiction at once, before any cohort starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

from pydantic import Field

from cohortflow.domain.blocks.common import CODE, BlockBase, Frozen
from cohortflow.domain.blocks.registry import Block
from cohortflow.domain.blocks.reminders import BlockReminderRule, BlockReminders, block_reminder_problems
from cohortflow.domain.blocks.selection import Selection, SelectionRule
from cohortflow.domain.canonical import digest
from cohortflow.domain.codes import duplicates, listed_twice
from cohortflow.domain.programme import Programme, ProgrammeInvalid, ProgrammeKind, parse_programme, shaped


class Prefecture(Frozen):
    code: str = Field(description="Six-digit administrative division code")
    name: str


class PrefectureQuota(Frozen):
    prefecture: str = Field(description="Division code of a prefecture of the template")
    quota: int = Field(description="Maximum nominations from this prefecture into the track")
    min_selected: int = 0
    max_selected: int | None = None


class Track(Frozen):
    """A line of the programme with its own quota, quotas per prefecture and selection rule."""

    code: str
    name: str
    quota: int = Field(description="Places in the track; the prefecture quotas, when given, add up to it")
    prefectures: tuple[PrefectureQuota, ...] = ()
    selection: SelectionRule | None = Field(default=None, description="Overrides the selection block's rule")


class Year(Frozen):
    number: int = Field(description="1 for the first programme year, and so on")
    theme: str


class ProgrammeTemplate(Frozen):
    id: str
    version: int
    name: str
    kind: ProgrammeKind
    starts_on: date | None = Field(default=None, description="Calendar date of day 0, for calendar due dates")
    year_days: int = Field(default=365, description="Length of a programme year in days")
    years: tuple[Year, ...] = ()
    prefectures: tuple[Prefecture, ...] = ()
    tracks: tuple[Track, ...]
    stages: tuple[Block, ...]
    reminders: BlockReminders | None = None

    def template(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def digest(self) -> str:
        return digest(self.template())

    @property
    def candidates(self) -> int:
        return sum(t.quota for t in self.tracks)

    # The TemplateView the blocks check themselves against.
    @property
    def length_days(self) -> int:
        return max((b.end_day for b in self.stages), default=0)

    def year_window(self, year: int) -> tuple[int, int] | None:
        if not any(y.number == year for y in self.years):
            return None
        return (year - 1) * self.year_days, year * self.year_days

    @property
    def prefecture_codes(self) -> set[str]:
        return {p.code for p in self.prefectures}

    def has_track(self, code: str) -> bool:
        return any(t.code == code for t in self.tracks)

    def block(self, code: str) -> BlockBase | None:
        return next((b for b in self.stages if b.code == code), None)

    def reminder_rule(self, code: str) -> BlockReminderRule:
        for rule in self.reminders.rules if self.reminders else ():
            if rule.code == code:
                return rule
        raise KeyError(f"programme {self.id} v{self.version} has no reminder rule {code!r}")

    def track_blocks(self, track: str) -> list[BlockBase]:
        return [b for b in self.stages if b.applies_to(track)]

    def selection_rule(self, track: Track, block: Selection) -> SelectionRule | None:
        return track.selection or block.rule

    def headcount(self, block: BlockBase) -> int:
        count = 0
        for track in self.tracks:
            if not block.applies_to(track.code):
                continue
            people = track.quota
            for earlier in self.track_blocks(track.code):
                if isinstance(earlier, Selection) and earlier.end_day <= block.start_day:
                    rule = self.selection_rule(track, earlier)
                    people = rule.target if rule else people
            count += people
        return count


AnyTemplate = Programme | ProgrammeTemplate
"""A template of either form: blocks, or the original seven phases."""


def parse_any(data: object) -> AnyTemplate:
    """Parse and check a template of either form; raise :class:`ProgrammeInvalid` listing every problem."""
    return parse_template(data) if is_block_template(data) else parse_programme(data)


def pinned(data: dict[str, Any]) -> AnyTemplate:
    """A template recorded when a cohort started, of either form; it was checked then, so it is only decoded."""
    return ProgrammeTemplate.model_validate(data) if is_block_template(data) else Programme.model_validate(data)


def is_block_template(data: object) -> bool:
    """Block templates list ``stages``; the original seven-phase form lists ``phases``."""
    return isinstance(data, dict) and "stages" in data


def parse_template(data: object) -> ProgrammeTemplate:
    """Parse and check a block template; raise :class:`ProgrammeInvalid` listing every problem."""
    template = shaped(ProgrammeTemplate, data)
    problems = template_problems(template)
    if problems:
        raise ProgrammeInvalid(problems)
    return template


def template_problems(t: ProgrammeTemplate) -> list[str]:
    return [
        *_identity_problems(t),
        *_prefecture_problems(t),
        *_track_problems(t),
        *_year_problems(t),
        *_stage_problems(t),
        *_selection_problems(t),
        *(problem for block in t.stages for problem in block.common_problems(t)),
        *(problem for block in t.stages for problem in block.problems(t)),
        *(block_reminder_problems(t.reminders, t) if t.reminders else ()),
    ]


def _identity_problems(t: ProgrammeTemplate) -> Iterator[str]:
    if not CODE.fullmatch(t.id):
        yield f"id {t.id!r} must be letters, digits, '.', '_' or '-'"
    if t.version < 1:
        yield "version must be 1 or more"
    if t.year_days <= 0:
        yield "year_days must be positive"
    if "\\u0000" in t.model_dump_json():
        yield "the template contains a NUL character (U+0000), which cannot be recorded"


def _prefecture_problems(t: ProgrammeTemplate) -> Iterator[str]:
    yield from listed_twice("prefecture", [p.code for p in t.prefectures])
    for p in t.prefectures:
        if not (len(p.code) == 6 and p.code.isdigit()):
            yield f"prefecture {p.name}: code {p.code!r} is not a six-digit division code"


def _track_problems(t: ProgrammeTemplate) -> Iterator[str]:
    if not t.tracks:
        yield "the programme needs at least one track"
    yield from listed_twice("track", [tr.code for tr in t.tracks])
    known = {p.code for p in t.prefectures}
    for track in t.tracks:
        where = f"track {track.code}"
        if track.quota <= 0:
            yield f"{where}: quota must be positive, got {track.quota}"
        yield from listed_twice(f"{where}: prefecture", [q.prefecture for q in track.prefectures])
        if track.prefectures and sum(q.quota for q in track.prefectures) != track.quota:
            total = sum(q.quota for q in track.prefectures)
            yield f"{where}: prefecture quotas add up to {total}, but the track's quota is {track.quota}"
        for q in track.prefectures:
            if q.prefecture not in known:
                yield f"{where}: prefecture {q.prefecture} is not one of the programme's prefectures"
            if q.quota <= 0:
                yield f"{where}: prefecture {q.prefecture}: quota must be positive, got {q.quota}"
            if q.min_selected < 0 or q.min_selected > q.quota:
                yield f"{where}: prefecture {q.prefecture}: min_selected must lie between 0 and its quota {q.quota}"
            if q.max_selected is not None and q.max_selected < q.min_selected:
                yield (
                    f"{where}: prefecture {q.prefecture}: max_selected {q.max_selected} "
                    f"is below min_selected {q.min_selected}"
                )


def _year_problems(t: ProgrammeTemplate) -> Iterator[str]:
    numbers = [y.number for y in t.years]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        yield f"years must be numbered 1, 2, 3… in order, got {', '.join(map(str, numbers))}"
    for y in t.years:
        if not y.theme.strip():
            yield f"year {y.number} needs a theme"
    if t.years and t.length_days > len(t.years) * t.year_days:
        yield f"the programme runs to day {t.length_days}, past its {len(t.years)} declared years"


def _stage_problems(t: ProgrammeTemplate) -> Iterator[str]:
    if not t.stages:
        yield "the programme needs at least one stage"
    for code in duplicates([b.code for b in t.stages]):
        yield f"block code {code} is used more than once"
    for prev, nxt in itertools.pairwise(t.stages):
        if nxt.start_day < prev.start_day:
            yield f"stages must be listed in the order they open: {nxt.code} opens before {prev.code}"
    for track in t.tracks:
        blocks = t.track_blocks(track.code)
        kinds = [b.kind for b in blocks]
        if kinds.count("enrolment") != 1 or (blocks and blocks[0].kind != "enrolment"):
            yield f"track {track.code}: needs exactly one enrolment block, first"
        if kinds.count("completion") != 1 or (blocks and blocks[-1].kind != "completion"):
            yield f"track {track.code}: needs exactly one completion block, last"
        for a, b in itertools.combinations(blocks, 2):
            if a.start_day < b.end_day and b.start_day < a.end_day:
                yield (
                    f"track {track.code}: blocks {a.code} (days {a.start_day}–{a.end_day}) "
                    f"and {b.code} (days {b.start_day}–{b.end_day}) overlap"
                )


def _selection_problems(t: ProgrammeTemplate) -> Iterator[str]:
    for block in t.stages:
        if not isinstance(block, Selection):
            continue
        for track in t.tracks:
            if not block.applies_to(track.code):
                continue
            rule = t.selection_rule(track, block)
            where = f"{block.label}, track {track.code}"
            if rule is None:
                yield f"{where}: no selection rule; give the block a rule or the track its own"
                continue
            yield from rule.problems(where, track.quota)
            minimums = sum(q.min_selected for q in track.prefectures)
            if minimums > rule.target:
                yield f"{where}: prefecture minimums add up to {minimums}, above the selection target {rule.target}"
            caps = [q.max_selected for q in track.prefectures]
            if caps and all(c is not None for c in caps) and sum(c or 0 for c in caps) < rule.target:
                yield (
                    f"{where}: prefecture caps add up to {sum(c or 0 for c in caps)}, "
                    f"below the selection target {rule.target}"
                )
