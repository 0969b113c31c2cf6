"""Recognition of study outside cohorts (学分认定): a person submits external study; a reviewer of the level the
credit would be granted at approves it or refuses it with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cohortflow.domain.blocks.common import CreditLevel

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
    where = f"claim {claim.claim_id}"
    problems: list[str] = []
    if claim.decided is not None:
        problems.append(f"{where}: already {claim.decided}")
    if reviewer.level != claim.level or reviewer.unit != claim.unit:
        problems.append(
            f"{where}: {claim.level} credits of {claim.unit} are decided by its own reviewers,"
            f" not by a {reviewer.level} reviewer of {reviewer.unit}"
        )
    if decision == "refused" and not reason.strip():
        problems.append(f"{where}, reason: a refusal says why")
    return problems
