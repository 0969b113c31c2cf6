"""Requirements as versioned data: which training each post must have, the level shares, hours to credits.

Training law, not a programme, decides whether a person is up to date, and the law changes: a province
publishes a new set of rules from a date. A :class:`RequirementBook` holds every version; the one in force on
a day judges that day. Pydantic checks the shape; :func:`requirement_problems` lists every contradiction at once.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from cohortflow.domain.blocks.common import CODE, Frozen
from cohortflow.domain.codes import listed_twice
from cohortflow.domain.credit_bank.credits import TrainingKind
from cohortflow.domain.credit_bank.people import Person, Post
from cohortflow.domain.phrases import in_lines, phrase
from cohortflow.domain.programme import ProgrammeInvalid, shaped

_ID = Field(pattern=CODE.pattern, description="The rule's code, unique in its version")


class _RuleBase(Frozen):
    id: str = _ID
    title: str = Field(description="What the rule is called on a statement, e.g. 校长任职资格培训")
    posts: tuple[Post, ...] = Field(min_length=1, description="The posts the rule applies to")
    kinds: tuple[TrainingKind, ...] | None = Field(
        default=None, description="The kinds of training that count; all kinds when left out"
    )

    def applies_to(self, person: Person) -> bool:
        return person.post in self.posts

    def counts(self, kind: TrainingKind) -> bool:
        return self.kinds is None or kind in self.kinds


class HoursPerCycle(_RuleBase):
    """At least ``hours`` in every cycle of ``cycle_years`` calendar years, the first starting in ``anchor_year``
    (e.g. a serving principal's 360 hours every five years, 2021–2025, 2026–2030, …)."""

    kind: Literal["hours_per_cycle"] = "hours_per_cycle"
    hours: float = Field(gt=0)
    cycle_years: int = Field(ge=1, le=10)
    anchor_year: int = Field(ge=1949, le=2200)


class Qualification(_RuleBase):
    """At least ``hours`` of qualifying training before taking post or within ``months_after`` months of it
    (持证上岗: a new principal's 300 hours)."""

    kind: Literal["qualification"] = "qualification"
    hours: float = Field(gt=0)
    months_after: int = Field(ge=0, le=120)
    months_before: int | None = Field(
        default=None,
        ge=0,
        le=240,
        description="How long before taking post training counts; any time if left out",
    )


class DaysPerPeriod(_RuleBase):
    """At least ``days`` of off-the-job training in every period of ``period_years`` calendar years (a group's own
    rule, e.g. 5 days away from the post every three years)."""

    kind: Literal["days_per_period"] = "days_per_period"
    days: int = Field(gt=0)
    period_years: int = Field(ge=1, le=10)
    anchor_year: int = Field(ge=1949, le=2200)


Rule = Annotated[HoursPerCycle | Qualification | DaysPerPeriod, Field(discriminator="kind")]


class LevelTargets(Frozen):
    """The share of a cycle's hours each level should grant (about 10/20/20/50%)."""

    province: float = Field(ge=0, le=1)
    city: float = Field(ge=0, le=1)
    district: float = Field(ge=0, le=1)
    school: float = Field(ge=0, le=1)


class CreditRate(Frozen):
    """``credits`` for every ``hours`` of the listed kinds of training (the published conversion table)."""

    kinds: tuple[TrainingKind, ...] = Field(min_length=1)
    hours: float = Field(gt=0)
    credits: float = Field(gt=0)


class Requirements(Frozen):
    """One version of the rules, in force from ``effective_from`` until the next version."""

    version: int = Field(ge=1)
    effective_from: date
    rules: tuple[Rule, ...] = Field(min_length=1)
    level_targets: LevelTargets
    credit_table: tuple[CreditRate, ...] = ()

    def rules_for(self, person: Person) -> list[Rule]:
        return [rule for rule in self.rules if rule.applies_to(person)]

    def credits(self, hours: float, kind: TrainingKind) -> float | None:
        """``hours`` of ``kind`` in credits, by the table; None if the table has no rate for the kind."""
        rate = next((r for r in self.credit_table if kind in r.kinds), None)
        return None if rate is None else round(hours * rate.credits / rate.hours, 2)


def requirement_problems(requirements: Requirements) -> list[str]:
    """Every contradiction in one version, at once; empty if it can be used."""
    problems = list(listed_twice(lambda code: phrase("rule {rule}", rule=code), (r.id for r in requirements.rules)))
    targets = requirements.level_targets
    total = targets.province + targets.city + targets.district + targets.school
    if abs(total - 1) > 1e-9:
        problems.append(phrase("level_targets: the shares add up to {total}, not 100%", total=f"{total:.0%}"))
    problems += listed_twice(
        lambda kind: phrase("credit_table: training kind {kind}", kind=kind),
        (k for rate in requirements.credit_table for k in rate.kinds),
    )
    return problems


class RequirementBook(Frozen):
    """Every version of the rules, oldest first."""

    versions: tuple[Requirements, ...] = Field(min_length=1)

    def in_force(self, day: date) -> Requirements:
        """The version that judges ``day``: the latest in force by then (the first one for earlier days)."""
        current = self.versions[0]
        for version in self.versions:
            if version.effective_from <= day:
                current = version
        return current


def book_problems(book: RequirementBook) -> list[str]:
    """Every problem of every version, and versions out of order."""
    problems = [
        phrase("version {version}: {problem}", version=v.version, problem=p)
        for v in book.versions
        for p in requirement_problems(v)
    ]
    numbers = [v.version for v in book.versions]
    if numbers != sorted(set(numbers)):
        problems.append(
            phrase(
                "versions: {numbers} are not numbered in increasing order, each once",
                numbers=", ".join(map(str, numbers)),
            )
        )
    starts = [v.effective_from for v in book.versions]
    if starts != sorted(set(starts)):
        problems.append(phrase("versions: each must take effect after the one before it"))
    return problems


class RequirementsInvalid(ValueError):
    """A requirement book that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(phrase("requirements are invalid:\n- {problems}", problems=in_lines(problems)))


def parse_book(data: object) -> RequirementBook:
    """Parse and check a requirement book (e.g. loaded from YAML); raise :class:`RequirementsInvalid` listing all
    problems."""
    try:
        book = shaped(RequirementBook, data)
    except ProgrammeInvalid as exc:
        raise RequirementsInvalid(exc.problems) from None
    problems = book_problems(book)
    if problems:
        raise RequirementsInvalid(problems)
    return book
