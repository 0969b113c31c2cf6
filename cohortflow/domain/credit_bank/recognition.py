"""Recognition of study outside cohorts (学分认定): a person submits external study; a reviewer of the level the
credit would be granted at approves it or refuses it with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.phrases import phrase

Decision = Literal["approved", "refused"]


@dataclass(frozen=True)
class Reviewer:
    actor: str
    level: CreditLevel
    unit: str
    """The province, city, district or school the reviewer speaks for."""


@dataclass(frozen=True)
class Claim:
    claim_id: str
    person_key: str
    hours: float
    level: CreditLevel
    unit: str
    """The body whose level grants the credit: only its own reviewers decide."""
    decided: Decision | None = None


def decision_problems(claim: Claim, reviewer: Reviewer, decision: Decision, reason: str) -> list[str]:
    """Why ``reviewer`` may not take ``decision`` on ``claim``; empty if they may."""
    where = phrase("claim {claim}", claim=claim.claim_id)
    problems: list[str] = []
    if claim.decided == "approved":
        problems.append(phrase("{where}: already approved", where=where))
    elif claim.decided == "refused":
        problems.append(phrase("{where}: already refused", where=where))
    if reviewer.level != claim.level or reviewer.unit != claim.unit:
        problems.append(
            phrase(
                "{where}: {level} credits of {unit} are decided by its own reviewers,"
                " not by a {reviewer_level} reviewer of {reviewer_unit}",
                where=where,
                level=claim.level,
                unit=claim.unit,
                reviewer_level=reviewer.level,
                reviewer_unit=reviewer.unit,
            )
        )
    if decision == "refused" and not reason.strip():
        problems.append(phrase("{where}, reason: a refusal says why", where=where))
    return problems
