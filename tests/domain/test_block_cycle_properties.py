"""Any valid block template's cycle reaches completion, decided from what its blocks received.

Generated templates (the strategy of test_template.py) run through the pure
parts of a cohort: the calendar, each block's generated files read as an
import reads them and checked row by row, the selections, credits and
completion. No generated row is refused, exactly one completion is
recorded, and everyone it counts met every required block.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.demo.block_files import block_files, nominees
from cohortflow.domain.block_cycle import BlockCycleState
from cohortflow.domain.block_progress import completion, credit_awards, met, reaches, selections
from cohortflow.domain.block_records import SubmissionCheck
from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.blocks.selection import Selection
from cohortflow.domain.events import CohortCompleted, CreditAwarded, Event, ParticipantCompleted
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.quotas import quotas_of
from cohortflow.domain.template import ProgrammeTemplate, parse_template
from cohortflow.imports.reading import SourceRow
from cohortflow.imports.typed import submission_row, typed_row
from tests.domain.builders import KEYS
from tests.domain.test_template import block_templates

START = datetime(2027, 3, 1, tzinfo=UTC)


class Cohort:
    """The facts of one simulated cohort, with every event it recorded."""

    def __init__(self) -> None:
        self.facts = CohortFacts()
        self.events: list[Event] = []

    def record(self, events: Iterable[Event]) -> None:
        for event in events:
            self.events.append(event)
            self.facts.apply_event(event, len(self.events))


def rows_of(content: bytes) -> list[SourceRow]:
    return [SourceRow(i + 2, dict(row)) for i, row in enumerate(csv.DictReader(io.StringIO(content.decode())))]


def imported(t: ProgrammeTemplate, cohort: Cohort, block_code: str, seed: int) -> list[str]:
    """Import the block's generated files as an upload would be checked; the problems found."""
    block = t.block(block_code)
    assert block is not None
    files = [nominees(t, seed)] if block.kind == "enrolment" else block_files(t, cohort.facts, block, seed)
    problems: list[str] = []
    for kind, content in files:
        outcomes: list[Any] = []
        if kind == "nominees":
            check = NominationCheck(quotas_of(t), known_ids=cohort.facts.participants, keys=KEYS)
            for source in rows_of(content):
                row, form = typed_row("nominees", source)
                assert isinstance(row, NomineeRow), form
                outcomes.append(check.check(row))
        else:
            intake = block.intake(kind)
            assert intake is not None
            records = SubmissionCheck(t, cohort.facts, block, intake)
            seen: set[tuple[str, str]] = set()
            for source in rows_of(content):
                record, form = submission_row(intake, source)
                assert record is not None, form
                key = records.repeat_key(record)
                outcomes.append(records.screen(record) or records.decide(record, repeated=key in seen))
                seen.add(key)
        problems += [p for o in outcomes if isinstance(o, list) for p in o]
        if not problems:
            cohort.record(outcomes)
    return problems


def run_cycle(t: ProgrammeTemplate, seed: int) -> Cohort:
    cohort = Cohort()
    state = BlockCycleState(started_at=START, day_seconds=86_400)
    while (step := state.next_step(t)) is not None:
        block = t.block(step.block)
        assert block is not None
        at = state.at(step)
        if step.action == "open":
            assert imported(t, cohort, block.code, seed) == []
            if isinstance(block, Selection):
                cohort.record(selections(t, cohort.facts, block))
            if isinstance(block, Completion):
                cohort.record(completion(t, cohort.facts, block, at))
        elif not isinstance(block, Completion):
            cohort.record(credit_awards(t, cohort.facts, block, at))
        state = state.ran(step, at)
    return cohort


@settings(max_examples=60, deadline=None)
@given(block_templates(), st.integers(0, 10_000))
def test_a_valid_template_runs_from_its_imports_to_completion(data: dict[str, Any], seed: int) -> None:
    t = parse_template(data)
    cohort = run_cycle(t, seed)
    (done,) = [e for e in cohort.events if isinstance(e, CohortCompleted)]
    completers = {e.participant_id for e in cohort.events if isinstance(e, ParticipantCompleted)}
    final = next(b for b in t.stages if isinstance(b, Completion))
    facts = cohort.facts
    assert len(facts.participants) == t.candidates
    assert completers == {
        pid for pid, p in facts.participants.items() if reaches(t, facts, p, final) and met(t, p, final) is not None
    }
    assert done.completed == len(completers)
    awards = [e for e in cohort.events if isinstance(e, CreditAwarded)]
    assert done.credit_hours == round(sum(a.hours for a in awards), 6)
    for award in awards:
        block = t.block(award.phase)
        assert block is not None and block.credits is not None and award.hours == block.credits.hours
        assert met(t, facts.participants[award.participant_id], block) is not None
