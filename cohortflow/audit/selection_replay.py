"""Re-run a recorded selection from the events alone, or a what-if under another rule.

The facts are folded from the cohort's events recorded before the decision, the
rule is the programme version the cohort was pinned to (or the one given for a
what-if), and the result is compared with the recorded list, position by
position. Nothing is written.
"""

from __future__ import annotations

from pydantic import BaseModel

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.phrases import in_lines, phrase
from cohortflow.domain.programme import Programme, programme_problems
from cohortflow.domain.selection import Candidate, rank, score, select
from cohortflow.store.eventstore import EventStore


class Change(BaseModel):
    participant_id: str
    prefecture_code: str
    recorded: str
    replayed: str
    score_recorded_rule: float | None
    score_replayed_rule: float | None
    hours: float
    deliverables: list[str]
    why: str


class SelectionReplay(BaseModel):
    cohort_id: str
    decision_position: int
    rule_version_recorded: int
    rule_version_replayed: int
    what_if: bool
    input_digest_recorded: str
    input_digest_replayed: str
    identical: bool
    selected_recorded: int
    selected_replayed: int
    changes: list[Change]


async def replay_selection(store: EventStore, cohort_id: str, what_if: Programme | None = None) -> SelectionReplay:
    stream = cohort_stream(cohort_id)
    facts = CohortFacts()
    pinned: Programme | None = None
    decision = None
    async for event in store.read_stream(stream):
        if event.type == "CohortStarted":
            pinned = Programme.model_validate(event.data["programme"])
        elif event.type == "SelectionDecided":
            decision = event
            break
        facts.apply(event)
    if pinned is None:
        raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
    if decision is None:
        raise LookupError(phrase("cohort {cohort_id} has no recorded selection yet", cohort_id=cohort_id))
    rule = what_if or pinned
    if what_if is not None:
        problems = programme_problems(what_if)
        if problems:
            raise ValueError(phrase("the what-if programme is invalid:\n- {problems}", problems=in_lines(problems)))
    candidates = [
        Candidate(p.participant_id, p.prefecture_code, p.hours, p.deliverables)
        for p in facts.participants.values()
        if not p.withdrawn
    ]
    outcome = select(candidates, rule)
    recorded = _places(decision.data["selected"], decision.data["waiting_list"])
    replayed = _places(list(outcome.selected), list(outcome.waiting_list))
    by_id = {c.participant_id: c for c in candidates}
    ranks_recorded = _ranks(candidates, pinned)
    ranks_replayed = _ranks(candidates, rule)
    changes = []
    for pid in sorted(set(recorded) | set(replayed)):
        before, after = recorded.get(pid, "not selected"), replayed.get(pid, "not selected")
        if before == after:
            continue
        c = by_id.get(pid)
        changes.append(
            Change(
                participant_id=pid,
                prefecture_code=c.prefecture_code if c else "",
                recorded=before,
                replayed=after,
                score_recorded_rule=score(c, pinned) if c else None,
                score_replayed_rule=score(c, rule) if c else None,
                hours=c.hours if c else 0.0,
                deliverables=list(c.deliverables) if c else [],
                why=_why(pid, ranks_recorded, ranks_replayed, c is not None),
            )
        )
    identical = (
        list(outcome.selected) == decision.data["selected"]
        and list(outcome.waiting_list) == decision.data["waiting_list"]
        and outcome.input_digest == decision.data["input_digest"]
    )
    return SelectionReplay(
        cohort_id=cohort_id,
        decision_position=decision.position,
        rule_version_recorded=decision.data["rule_version"],
        rule_version_replayed=rule.selection.version,
        what_if=what_if is not None,
        input_digest_recorded=decision.data["input_digest"],
        input_digest_replayed=outcome.input_digest,
        identical=identical,
        selected_recorded=len(decision.data["selected"]),
        selected_replayed=len(outcome.selected),
        changes=changes,
    )


def _places(selected: list[str], waiting: list[str]) -> dict[str, str]:
    places = {pid: f"selected #{i}" for i, pid in enumerate(selected, start=1)}
    places.update({pid: f"waiting #{i}" for i, pid in enumerate(waiting, start=1)})
    return places


def _ranks(candidates: list[Candidate], programme: Programme) -> dict[str, int]:
    return {r.candidate.participant_id: i for i, r in enumerate(rank(candidates, programme), start=1)}


def _why(pid: str, before: dict[str, int], after: dict[str, int], known: bool) -> str:
    if not known:
        return "not among the candidates recorded before the decision"
    if pid not in after:
        return "not eligible under the replayed rule"
    if pid not in before:
        return f"eligible under the replayed rule (rank {after[pid]}), not under the recorded one"
    if before[pid] != after[pid]:
        return f"ranked {after[pid]} instead of {before[pid]}"
    return f"same rank {after[pid]}, but prefecture minimums or caps moved the line"
