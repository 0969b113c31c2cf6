"""Who completed the cohort, and which credits each phase earns them.

Each phase that can carry credits has one named criterion; an award lists the
positions of the events that satisfied it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cohortflow.domain.events import CreditAwarded
from cohortflow.domain.facts import CohortFacts, ParticipantFacts
from cohortflow.domain.programme import PhaseKind, Programme
from cohortflow.domain.selection import Candidate, is_eligible

Criterion = Callable[[ParticipantFacts, CohortFacts, Programme], tuple[int, ...] | None]
"""Returns the positions of the earning events, or None when not met."""


def met_online_requirement(p: ParticipantFacts, _: CohortFacts, prog: Programme) -> tuple[int, ...] | None:
    candidate = Candidate(p.participant_id, p.prefecture_code, p.hours, p.deliverables)
    if p.study_position is None or not is_eligible(candidate, prog):
        return None
    return (p.study_position,)


def attended_field_study(p: ParticipantFacts, facts: CohortFacts, prog: Programme) -> tuple[int, ...] | None:
    if p.participant_id not in facts.selected or p.attendance_position is None or p.days_total == 0:
        return None
    if p.days_present / p.days_total < prog.field_study.min_attendance_ratio:
        return None
    return (p.attendance_position,)


def reported_back(p: ParticipantFacts, facts: CohortFacts, _: Programme) -> tuple[int, ...] | None:
    if p.participant_id not in facts.selected or p.return_report_position is None:
        return None
    return (p.return_report_position,)


def answered_all_surveys(p: ParticipantFacts, facts: CohortFacts, prog: Programme) -> tuple[int, ...] | None:
    if p.participant_id not in facts.selected:
        return None
    positions = [p.surveys.get(s.code) for s in prog.follow_up]
    if any(pos is None for pos in positions):
        return None
    return tuple(pos for pos in positions if pos is not None)


def completed(p: ParticipantFacts, facts: CohortFacts, prog: Programme) -> tuple[int, ...] | None:
    """Completion: attended field study and reported back after returning to post."""
    attended = attended_field_study(p, facts, prog)
    reported = reported_back(p, facts, prog)
    if attended is None or reported is None:
        return None
    return attended + reported


CRITERIA: dict[PhaseKind, Criterion] = {
    "online_study": met_online_requirement,
    "field_study": attended_field_study,
    "return_to_post": reported_back,
    "follow_up": answered_all_surveys,
    "completion": completed,
}


def completers(facts: CohortFacts, programme: Programme) -> list[str]:
    return [
        p.participant_id
        for p in facts.active_selected()
        if not p.withdrawn and completed(p, facts, programme) is not None
    ]


def credit_awards(facts: CohortFacts, programme: Programme) -> Iterator[CreditAwarded]:
    """Awards not yet granted, in participant order then template order."""
    for pid in sorted(facts.participants):
        p = facts.participants[pid]
        if p.withdrawn:
            continue
        for rule in programme.credits:
            if rule.phase in p.credited_phases:
                continue
            earned_by = CRITERIA[rule.phase](p, facts, programme)
            if earned_by is None:
                continue
            yield CreditAwarded(
                entry_id=f"{pid}/{rule.phase}",
                participant_id=pid,
                person_key=p.person_key,
                phase=rule.phase,
                hours=rule.hours,
                level=rule.level,
                earned_by=list(earned_by),
            )
