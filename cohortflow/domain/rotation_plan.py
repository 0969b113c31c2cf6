"""Rotation plans (轮训计划): one programme run once a year for several years, nobody enrolled twice.

A district that sends every principal once in five years runs the same
programme as a yearly cohort; a person enrolled in one of the plan's cohorts
(and not withdrawn from it) cannot be nominated into another, and the refusal
names the cohort they are in.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain.blocks.common import CODE

MAX_YEARS = 10


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
        problems.append(f"plan id {plan.id!r} must be letters, digits, '.', '_' or '-'")
    if not plan.name.strip():
        problems.append("a plan needs a name")
    if not 1 <= plan.years <= MAX_YEARS:
        problems.append(f"years must be between 1 and {MAX_YEARS}, got {plan.years}")
    if not 2000 <= plan.first_year <= 2100:
        problems.append(f"first_year {plan.first_year} is not a plausible calendar year")
    return problems


def already_enrolled(where: str, masked_id: str, cohort_id: str) -> str:
    """The refusal of a nominee who is in another cohort of the plan."""
    return f"{where}, national_id: {masked_id} is already enrolled in cohort {cohort_id} of this rotation plan"
