"""Selection (遴选): a pure function of recorded facts and the rule version.

The same candidates and rule always give the identical ordered list, and the
decision carries a digest of exactly the inputs it was computed from, so an
auditor can re-run it years later and compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cohortflow.domain.blocks.selection import SelectionRule
from cohortflow.domain.canonical import digest
from cohortflow.domain.programme import Programme


@dataclass(frozen=True)
class Candidate:
    participant_id: str
    prefecture_code: str
    hours: float
    deliverables: tuple[str, ...]


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float


@dataclass(frozen=True)
class SelectionOutcome:
    selected: tuple[str, ...]
    waiting_list: tuple[str, ...]
    eligible: int
    input_digest: str


def is_eligible(c: Candidate, programme: Programme) -> bool:
    """Met the online-study requirement: enough hours, every required deliverable."""
    req = programme.online
    return c.hours >= req.min_hours and set(req.required_deliverables) <= set(c.deliverables)


@dataclass(frozen=True)
class Limits:
    """How many of one prefecture must, and may, be selected."""

    min_selected: int = 0
    max_selected: int | None = None


def score(c: Candidate, programme: Programme) -> float:
    return score_by(c, programme.selection)


def score_by(c: Candidate, rule: SelectionRule) -> float:
    hours = c.hours if rule.hours_cap is None else min(c.hours, rule.hours_cap)
    return round(rule.hours_weight * hours + rule.deliverable_weight * len(set(c.deliverables)), 6)


def rank(candidates: Sequence[Candidate], programme: Programme) -> list[Ranked]:
    return rank_by(candidates, programme.selection, lambda c: is_eligible(c, programme))


def rank_by(
    candidates: Sequence[Candidate], rule: SelectionRule, eligible: Callable[[Candidate], bool]
) -> list[Ranked]:
    """Eligible candidates, best first; ties go to more hours, then the lower id."""
    ranked = [Ranked(c, score_by(c, rule)) for c in candidates if eligible(c)]
    ranked.sort(key=lambda r: (-r.score, -r.candidate.hours, r.candidate.participant_id))
    return ranked


def selection_inputs_digest(candidates: Sequence[Candidate], programme: Programme) -> str:
    rows = sorted([c.participant_id, c.prefecture_code, c.hours, sorted(set(c.deliverables))] for c in candidates)
    return digest(
        {
            "rule": programme.selection.model_dump(mode="json"),
            "online": programme.online.model_dump(mode="json"),
            "prefectures": [p.model_dump(mode="json") for p in programme.prefectures],
            "candidates": rows,
        }
    )


def select(candidates: Sequence[Candidate], programme: Programme) -> SelectionOutcome:
    """Fill prefecture minimums first, then the best of the rest within caps."""
    return select_by(
        candidates,
        programme.selection,
        eligible=lambda c: is_eligible(c, programme),
        limits={p.code: Limits(p.min_selected, p.max_selected) for p in programme.prefectures},
        input_digest=selection_inputs_digest(candidates, programme),
    )


def select_by(
    candidates: Sequence[Candidate],
    rule: SelectionRule,
    *,
    eligible: Callable[[Candidate], bool],
    limits: dict[str, Limits],
    input_digest: str,
) -> SelectionOutcome:
    """The eligible ranked by ``rule``: each prefecture's minimum first, then the best of the rest within caps."""
    ranked = rank_by(candidates, rule, eligible)
    caps = {code: limit.max_selected for code, limit in limits.items()}
    minimums = {code: limit.min_selected for code, limit in limits.items()}
    taken: dict[str, int] = {}
    chosen: set[str] = set()

    def take(r: Ranked) -> None:
        chosen.add(r.candidate.participant_id)
        code = r.candidate.prefecture_code
        taken[code] = taken.get(code, 0) + 1

    for r in ranked:
        code = r.candidate.prefecture_code
        if taken.get(code, 0) < minimums.get(code, 0):
            take(r)

    def fits(r: Ranked) -> bool:
        cap = caps.get(r.candidate.prefecture_code)
        return cap is None or taken.get(r.candidate.prefecture_code, 0) < cap

    for r in ranked:
        if len(chosen) >= rule.target:
            break
        if r.candidate.participant_id not in chosen and fits(r):
            take(r)

    selected = tuple(r.candidate.participant_id for r in ranked if r.candidate.participant_id in chosen)
    waiting: list[str] = []
    for r in ranked:
        if len(waiting) >= rule.waiting_list:
            break
        if r.candidate.participant_id not in chosen:
            waiting.append(r.candidate.participant_id)
    return SelectionOutcome(
        selected=selected,
        waiting_list=tuple(waiting),
        eligible=len(ranked),
        input_digest=input_digest,
    )
