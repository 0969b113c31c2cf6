"""Evaluation: scored rounds by named assessors with a pass mark, and an anonymous satisfaction survey.

Survey answers are anonymous by construction: the block accepts them without a
participant id, so no read model, export or answer can link one to a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, Frozen, RecordContext, TemplateView
from cohortflow.domain.blocks.intake import (
    EVALUATION_SCORES,
    ITEM_SEPARATOR,
    RATING,
    SATISFACTION,
    Intake,
    Records,
    SubmissionRow,
    items,
)
from cohortflow.domain.codes import duplicates
from cohortflow.domain.phrases import phrase


class EvaluationRound(Frozen):
    code: str
    day: int | None = Field(default=None, description="Programme day of the round")
    end_of_year: int | None = Field(default=None, description="Or: the last day of this programme year")
    assessors: tuple[str, ...] = Field(description="Who scores, e.g. expert panel, defence panel")
    pass_mark: float = 60
    max_score: float = 100


class Evaluation(BlockBase):
    INTAKES = (EVALUATION_SCORES, SATISFACTION)
    kind: Literal["evaluation"] = "evaluation"
    rounds: tuple[EvaluationRound, ...]
    anonymous_survey: bool = Field(default=True, description="Participants rate the programme anonymously")

    def intake(self, kind: str) -> Intake | None:
        return None if kind == SATISFACTION.kind and not self.anonymous_survey else super().intake(kind)

    def check_record(self, intake: Intake, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = phrase("row {row}", row=row.row)
        value = row.number or 0
        if intake is SATISFACTION:
            low, high = RATING
            if low <= value <= high:
                return []
            return [
                phrase(
                    "{where}, satisfaction: {value} is out of range {low}–{high}",
                    where=where,
                    value=f"{value:g}",
                    low=low,
                    high=high,
                )
            ]
        code, _, assessor = row.item.partition(ITEM_SEPARATOR)
        rnd = next((r for r in self.rounds if r.code == code), None)
        if rnd is None:
            known = ", ".join(r.code for r in self.rounds)
            return [
                phrase(
                    "{where}, round: {round} is not a round of {block} ({known})",
                    where=where,
                    round=repr(code),
                    block=self.code,
                    known=known,
                )
            ]
        problems = []
        if assessor not in rnd.assessors:
            problems.append(
                phrase(
                    "{where}, assessor: {assessor} does not score round {round} ({assessors})",
                    where=where,
                    assessor=repr(assessor),
                    round=code,
                    assessors=", ".join(rnd.assessors),
                )
            )
        if not 0 <= value <= rnd.max_score:
            problems.append(
                phrase(
                    "{where}, score: {score} is out of range 0–{max_score}",
                    where=where,
                    score=f"{value:g}",
                    max_score=f"{rnd.max_score:g}",
                )
            )
        return problems

    def met(self, records: Records) -> tuple[int, ...] | None:
        """Every round scored by each of its assessors, with a mean at or above its pass mark."""
        scores = items(records, EVALUATION_SCORES.kind)
        used = []
        for rnd in self.rounds:
            given = [scores.get(f"{rnd.code}{ITEM_SEPARATOR}{a}") for a in rnd.assessors]
            if any(g is None for g in given):
                return None
            found = [g for g in given if g is not None]
            if sum(g.number or 0 for g in found) / len(found) < rnd.pass_mark:
                return None
            used.extend(found)
        return tuple(sorted(g.position for g in used))

    def submissions(self) -> frozenset[str]:
        kinds = {"evaluation_scores"}
        if self.anonymous_survey:
            kinds.add("satisfaction")
        return frozenset(kinds)

    def round_day(self, rnd: EvaluationRound, view: TemplateView) -> int | None:
        if rnd.day is not None:
            return rnd.day
        if rnd.end_of_year is not None:
            window = view.year_window(rnd.end_of_year)
            return None if window is None else window[1] - 1
        return None

    def problems(self, view: TemplateView) -> Iterator[str]:
        if not self.rounds:
            yield phrase("{block}: needs at least one round", block=self.label)
        for code in duplicates(r.code for r in self.rounds):
            yield phrase("{block}: round {round} is listed more than once", block=self.label, round=code)
        for rnd in self.rounds:
            where = phrase("{block}: round {round}", block=self.label, round=rnd.code)
            if (rnd.day is None) == (rnd.end_of_year is None):
                yield phrase("{where}: give exactly one of day and end_of_year", where=where)
            elif rnd.end_of_year is not None and view.year_window(rnd.end_of_year) is None:
                yield phrase(
                    "{where}: year {year} is not one of the programme's years", where=where, year=rnd.end_of_year
                )
            day = self.round_day(rnd, view)
            if day is not None and day >= view.length_days:
                yield phrase(
                    "{where}: on day {day}, after the programme ends on day {end}",
                    where=where,
                    day=day,
                    end=view.length_days,
                )
            elif day is not None and not self.start_day <= day < self.end_day:
                yield phrase(
                    "{where}: on day {day}, outside the block (days {start_day}–{end_day})",
                    where=where,
                    day=day,
                    start_day=self.start_day,
                    end_day=self.end_day,
                )
            if not rnd.assessors:
                yield phrase("{where}: names no assessors", where=where)
            if rnd.max_score <= 0 or not 0 <= rnd.pass_mark <= rnd.max_score:
                yield phrase(
                    "{where}: pass_mark {pass_mark} must lie between 0 and max_score {max_score}",
                    where=where,
                    pass_mark=f"{rnd.pass_mark:g}",
                    max_score=f"{rnd.max_score:g}",
                )
