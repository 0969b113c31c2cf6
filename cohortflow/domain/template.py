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
from functools import partial
from typing import Any

from pydantic import Field

from cohortflow.domain.blocks.common import CODE, BlockBase, Frozen
from cohortflow.domain.blocks.registry import Block
from cohortflow.domain.blocks.reminders import BlockReminderRule, BlockReminders, block_reminder_problems
from cohortflow.domain.blocks.selection import Selection, SelectionRule
from cohortflow.domain.canonical import digest
from cohortflow.domain.codes import duplicates, listed_twice
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import (
    Programme,
    ProgrammeInvalid,
    ProgrammeKind,
    max_below_min,
    no_reminder_rule,
    not_a_division_code,
    parse_programme,
    prefecture_place,
    quota_not_positive,
    shaped,
)
from cohortflow.domain.recordable import template_text_problems


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
        raise KeyError(no_reminder_rule(self.id, self.version, code))

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
        yield phrase("id {id} must be letters, digits, '.', '_' or '-'", id=repr(t.id))
    if t.version < 1:
        yield phrase("version must be 1 or more")
    if t.year_days <= 0:
        yield phrase("year_days must be positive")
    yield from template_text_problems(t)


def _prefecture_problems(t: ProgrammeTemplate) -> Iterator[str]:
    yield from listed_twice(prefecture_place, [p.code for p in t.prefectures])
    for p in t.prefectures:
        if not (len(p.code) == 6 and p.code.isdigit()):
            yield not_a_division_code(p.name, p.code)


def track_place(code: str) -> str:
    """Where a problem of a track is."""
    return phrase("track {track}", track=code)


def _share(track: str, prefecture: str) -> str:
    """Where a problem of a prefecture's share of a track (``track``, its place) is."""
    return phrase("{where}: prefecture {prefecture}", where=track, prefecture=prefecture)


def _track_problems(t: ProgrammeTemplate) -> Iterator[str]:
    if not t.tracks:
        yield phrase("the programme needs at least one track")
    yield from listed_twice(track_place, [tr.code for tr in t.tracks])
    known = {p.code for p in t.prefectures}
    for track in t.tracks:
        where = track_place(track.code)
        if track.quota <= 0:
            yield quota_not_positive(where, track.quota)
        yield from listed_twice(partial(_share, where), [q.prefecture for q in track.prefectures])
        if track.prefectures and sum(q.quota for q in track.prefectures) != track.quota:
            total = sum(q.quota for q in track.prefectures)
            yield phrase(
                "{where}: prefecture quotas add up to {total}, but the track's quota is {quota}",
                where=where,
                total=total,
                quota=track.quota,
            )
        for q in track.prefectures:
            if q.prefecture not in known:
                yield phrase(
                    "{where}: prefecture {prefecture} is not one of the programme's prefectures",
                    where=where,
                    prefecture=q.prefecture,
                )
            share = _share(where, q.prefecture)
            if q.quota <= 0:
                yield quota_not_positive(share, q.quota)
            if q.min_selected < 0 or q.min_selected > q.quota:
                yield phrase(
                    "{where}: min_selected must lie between 0 and its quota {quota}", where=share, quota=q.quota
                )
            if q.max_selected is not None and q.max_selected < q.min_selected:
                yield max_below_min(share, q.max_selected, q.min_selected)


def _year_problems(t: ProgrammeTemplate) -> Iterator[str]:
    numbers = [y.number for y in t.years]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        yield phrase("years must be numbered 1, 2, 3… in order, got {numbers}", numbers=", ".join(map(str, numbers)))
    for y in t.years:
        if not y.theme.strip():
            yield phrase("year {year} needs a theme", year=y.number)
    if t.years and t.length_days > len(t.years) * t.year_days:
        yield phrase(
            "the programme runs to day {day}, past its {years} declared years", day=t.length_days, years=len(t.years)
        )


def _stage_problems(t: ProgrammeTemplate) -> Iterator[str]:
    if not t.stages:
        yield phrase("the programme needs at least one stage")
    for code in duplicates([b.code for b in t.stages]):
        yield phrase("block code {code} is used more than once", code=code)
    for prev, nxt in itertools.pairwise(t.stages):
        if nxt.start_day < prev.start_day:
            yield phrase(
                "stages must be listed in the order they open: {next} opens before {previous}",
                next=nxt.code,
                previous=prev.code,
            )
    for track in t.tracks:
        where = track_place(track.code)
        blocks = t.track_blocks(track.code)
        kinds = [b.kind for b in blocks]
        if kinds.count("enrolment") != 1 or (blocks and blocks[0].kind != "enrolment"):
            yield phrase("{where}: needs exactly one enrolment block, first", where=where)
        if kinds.count("completion") != 1 or (blocks and blocks[-1].kind != "completion"):
            yield phrase("{where}: needs exactly one completion block, last", where=where)
        for a, b in itertools.combinations(blocks, 2):
            if a.start_day < b.end_day and b.start_day < a.end_day:
                yield phrase(
                    "{where}: blocks {a} (days {a_start}–{a_end}) and {b} (days {b_start}–{b_end}) overlap",
                    where=where,
                    a=a.code,
                    a_start=a.start_day,
                    a_end=a.end_day,
                    b=b.code,
                    b_start=b.start_day,
                    b_end=b.end_day,
                )


def _selection_problems(t: ProgrammeTemplate) -> Iterator[str]:
    for block in t.stages:
        if not isinstance(block, Selection):
            continue
        for track in t.tracks:
            if not block.applies_to(track.code):
                continue
            rule = t.selection_rule(track, block)
            where = phrase("{block}, track {track}", block=block.label, track=track.code)
            if rule is None:
                yield phrase("{where}: no selection rule; give the block a rule or the track its own", where=where)
                continue
            yield from rule.problems(where, track.quota)
            minimums = sum(q.min_selected for q in track.prefectures)
            if minimums > rule.target:
                yield phrase(
                    "{where}: prefecture minimums add up to {minimums}, above the selection target {target}",
                    where=where,
                    minimums=minimums,
                    target=rule.target,
                )
            caps = [q.max_selected for q in track.prefectures]
            if caps and all(c is not None for c in caps) and sum(c or 0 for c in caps) < rule.target:
                yield phrase(
                    "{where}: prefecture caps add up to {caps}, below the selection target {target}",
                    where=where,
                    caps=sum(c or 0 for c in caps),
                    target=rule.target,
                )
