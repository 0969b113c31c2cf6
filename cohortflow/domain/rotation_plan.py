"""Rotation plans (轮训计划): one programme run once a year for several years, nobody enrolled twice.

A district that sends every principal once in five years runs the same
programme as a yearly cohort; a person enrolled in one of the plan's cohorts
(and not withdrawn from it) cannot be nominated into another, and the refusal
names the cohort they are in.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain import national_id
from cohortflow.domain.blocks.common import CODE
from cohortflow.domain.events import RosterEntered
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.template import ProgrammeTemplate

MAX_YEARS = 10


def plan_stream(plan_id: str) -> str:
    return f"plan-{plan_id}"


class RotationPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    programme_id: str
    programme_version: int
    first_year: int = Field(description="Calendar year of the first cohort; one cohort a year after it")
    years: int = Field(description=f"How many yearly cohorts, at most {MAX_YEARS}")

    def cohort_id(self, year: int) -> str:
        return f"{self.id}-{year}"

    @property
    def cohort_ids(self) -> list[str]:
        return [self.cohort_id(self.first_year + i) for i in range(self.years)]


def plan_problems(plan: RotationPlan) -> list[str]:
    problems = []
    if not CODE.fullmatch(plan.id):
        problems.append(phrase("plan id {id} must be letters, digits, '.', '_' or '-'", id=repr(plan.id)))
    if not plan.name.strip():
        problems.append(phrase("a plan needs a name"))
    if not 1 <= plan.years <= MAX_YEARS:
        problems.append(phrase("years must be between 1 and {most}, got {years}", most=MAX_YEARS, years=plan.years))
    if not 2000 <= plan.first_year <= 2100:
        problems.append(phrase("first_year {year} is not a plausible calendar year", year=plan.first_year))
    return problems


def already_enrolled(where: str, masked_id: str, cohort_id: str) -> str:
    """The refusal of a nominee who is in another cohort of the plan."""
    return phrase(
        "{where}, national_id: {masked_id} is already enrolled in cohort {cohort_id} of this rotation plan",
        where=where,
        masked_id=masked_id,
        cohort_id=cohort_id,
    )


def not_on_roster(where: str, masked_id: str, plan_id: str) -> str:
    """The refusal of a nominee the plan's roster does not list."""
    return phrase(
        "{where}, national_id: {masked_id} is not on the roster of rotation plan {plan_id}",
        where=where,
        masked_id=masked_id,
        plan_id=plan_id,
    )


@dataclass(frozen=True)
class RosterRow:
    """One eligible person of a plan's roster (轮训名册)."""

    row: int
    name: str
    national_id: str
    prefecture_code: str
    school: str = ""


class RosterCheck:
    """Check roster rows one at a time: a valid ID number, a name, a prefecture of the programme, once each.

    ``known`` holds the people already on the roster, keyed by ``keys`` (how the store keys people);
    each accepted row joins them.
    """

    def __init__(self, programme: Programme | ProgrammeTemplate, known: set[str], keys: PersonKeys) -> None:
        self.programme = programme
        self.known = known
        self.keys = keys

    def _prefecture_known(self, code: str) -> bool:
        if isinstance(self.programme, ProgrammeTemplate):  # a template without prefectures takes any division
            return not self.programme.prefectures or code in self.programme.prefecture_codes
        return self.programme.prefecture(code) is not None

    def check(self, r: RosterRow) -> RosterEntered | list[str]:
        where = phrase("row {row}", row=r.row)
        nid, problems = national_id.checked(r.national_id, where)
        if not r.name.strip():
            problems.append(phrase("{where}, name: is empty", where=where))
        if not self._prefecture_known(r.prefecture_code):
            problems.append(
                phrase(
                    "{where}, prefecture_code: {prefecture} is not a prefecture of the programme",
                    where=where,
                    prefecture=repr(r.prefecture_code),
                )
            )
        key = self.keys.of(nid) if nid else ""
        if key and key in self.known:
            problems.append(
                phrase(
                    "{where}, national_id: {masked_id} is already on the roster",
                    where=where,
                    masked_id=national_id.mask(nid),
                )
            )
        if problems:
            return problems
        self.known.add(key)
        return RosterEntered(
            person_key=key,
            name=r.name.strip(),
            national_id=nid,
            prefecture_code=r.prefecture_code,
            school=r.school.strip(),
        )
