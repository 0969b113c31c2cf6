"""What a block template's cohort decides from its facts: who a block is for, who met it, credits,
selection, completion.

Each decision is a pure function of the template and the folded facts, so the
same history always gives the same events, and an auditor can re-run any of
them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from cohortflow.domain.blocks.common import BlockBase
from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.blocks.online_study import OnlineStudy
from cohortflow.domain.blocks.selection import Selection
from cohortflow.domain.canonical import digest
from cohortflow.domain.events import CohortCompleted, CreditAwarded, Event, ParticipantCompleted, SelectionDecided
from cohortflow.domain.facts import CohortFacts, ParticipantFacts
from cohortflow.domain.selection import Candidate, Limits, select_by
from cohortflow.domain.template import ProgrammeTemplate


def track_of(template: ProgrammeTemplate, p: ParticipantFacts) -> str:
    """The participant's track; a template with one track puts everyone in it."""
    return p.track or template.tracks[0].code


def reaches(template: ProgrammeTemplate, facts: CohortFacts, p: ParticipantFacts, block: BlockBase) -> bool:
    """Whether ``block`` is for the participant: their track's, and they were selected by any selection before it."""
    if p.withdrawn:
        return False
    track = track_of(template, p)
    if not block.applies_to(track):
        return False
    for earlier in template.stages:
        selects = isinstance(earlier, Selection) and earlier.applies_to(track) and earlier.end_day <= block.start_day
        if selects and p.participant_id not in facts.selected:
            return False
    return True


def met(template: ProgrammeTemplate, p: ParticipantFacts, block: BlockBase) -> tuple[int, ...] | None:
    """The positions of the records that meet the block's criterion for the participant, or None."""
    if isinstance(block, Completion):
        positions: list[int] = []
        for code in block.requires:
            required = template.block(code)
            found = None if required is None else met(template, p, required)
            if found is None:
                return None
            positions.extend(found)
        return tuple(sorted(positions))
    return block.met(p.records(block.code))


def credit_awards(
    template: ProgrammeTemplate, facts: CohortFacts, block: BlockBase, earned_at: datetime
) -> Iterator[CreditAwarded]:
    """The block's credits for everyone it is for who met it and has not had them yet, in participant order;
    ``earned_at`` is when the block ended for them."""
    grant = block.credits
    if grant is None:
        return
    for pid in sorted(facts.participants):
        p = facts.participants[pid]
        if block.code in p.credited_phases or not reaches(template, facts, p, block):
            continue
        earned_by = met(template, p, block)
        if earned_by is None:
            continue
        yield CreditAwarded(
            entry_id=f"{pid}/{block.code}",
            participant_id=pid,
            person_key=p.person_key,
            phase=block.code,
            hours=grant.hours,
            level=grant.level,
            earned_by=list(earned_by),
            earned_at=earned_at,
        )


def completion(template: ProgrammeTemplate, facts: CohortFacts, block: Completion, at: datetime) -> list[Event]:
    """Who completed (at ``at``), the completion block's own credits, and the cohort's totals."""
    done = [
        pid
        for pid in sorted(facts.participants)
        if reaches(template, facts, facts.participants[pid], block)
        and met(template, facts.participants[pid], block) is not None
    ]
    awards = list(credit_awards(template, facts, block, at))
    hours = round(facts.credit_hours + sum(a.hours for a in awards), 6)
    return [
        *awards,
        *(ParticipantCompleted(participant_id=pid) for pid in done),
        CohortCompleted(completed=len(done), credit_hours=hours),
    ]


def selections(template: ProgrammeTemplate, facts: CohortFacts, block: Selection) -> list[SelectionDecided]:
    """One decision per track the selection block applies to, by the track's rule (or the block's)."""
    source = template.block(block.scores_from)
    assert isinstance(source, OnlineStudy), "checked when the template was validated"
    decisions = []
    for track in template.tracks:
        rule = template.selection_rule(track, block)
        if not block.applies_to(track.code) or rule is None:
            continue
        people = [
            p
            for p in facts.participants.values()
            if track_of(template, p) == track.code and reaches(template, facts, p, block)
        ]
        candidates = [
            Candidate(
                p.participant_id,
                p.prefecture_code,
                source.hours(p.records(source.code)),
                source.handed_in(p.records(source.code)),
            )
            for p in people
        ]
        met_source = {p.participant_id for p in people if source.met(p.records(source.code)) is not None}
        rows = sorted([c.participant_id, c.prefecture_code, c.hours, list(c.deliverables)] for c in candidates)
        outcome = select_by(
            candidates,
            rule,
            eligible=_among(met_source),
            limits={q.prefecture: Limits(q.min_selected, q.max_selected) for q in track.prefectures},
            input_digest=digest(
                {"rule": rule.model_dump(mode="json"), "source": source.model_dump(mode="json"), "candidates": rows}
            ),
        )
        decisions.append(
            SelectionDecided(
                rule_version=rule.version,
                target=rule.target,
                input_digest=outcome.input_digest,
                eligible=outcome.eligible,
                selected=list(outcome.selected),
                waiting_list=list(outcome.waiting_list),
                track=track.code,
            )
        )
    return decisions


def _among(ids: set[str]) -> Callable[[Candidate], bool]:
    return lambda c: c.participant_id in ids


def replacement(template: ProgrammeTemplate, facts: CohortFacts, leaving: str, opened: Collection[str]) -> str | None:
    """Who takes the place of ``leaving``, selected in their track, while its selection still refills places.

    A selection refills until its ``replace_until`` block opens, from its waiting list in ranked order,
    keeping each prefecture within its cap in the track.
    """
    p = facts.participants[leaving]
    if leaving not in facts.selected:
        return None
    track_code = track_of(template, p)
    track = next(t for t in template.tracks if t.code == track_code)
    selection = next(
        (
            b
            for b in template.stages
            if isinstance(b, Selection) and b.applies_to(track_code) and b.code in opened and b.replace_until
        ),
        None,
    )
    if selection is None or selection.replace_until in opened:
        return None
    caps = {q.prefecture: q.max_selected for q in track.prefectures}
    in_track = [q for q in facts.participants.values() if track_of(template, q) == track_code]
    counts = Counter(
        q.prefecture_code for q in in_track if q.participant_id in facts.selected and q.participant_id != leaving
    )
    for pid in facts.waiting_list:
        waiting = facts.participants[pid]
        cap = caps.get(waiting.prefecture_code)
        if track_of(template, waiting) != track_code or waiting.withdrawn:
            continue
        if cap is None or counts[waiting.prefecture_code] < cap:
            return pid
    return None
