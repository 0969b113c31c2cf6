"""Workflow code must still agree with every history recorded under earlier code.

The histories under tests/histories were recorded from real runs (see
record_histories.py). A non-deterministic change to workflow code fails here,
in CI, long before it would break a cohort that has been running for years.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from cohortflow.audit.histories import read_histories, replay_histories
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleResult


def workflow_type(history: object) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name  # type: ignore[attr-defined,no-any-return]


async def test_current_code_replays_every_recorded_history(histories_dir: Path) -> None:
    histories = read_histories(histories_dir)
    outcomes = await replay_histories(histories)
    assert [o.problem for o in outcomes if not o.agrees] == []
    assert len(outcomes) == len(histories) >= 8
    assert {workflow_type(h) for h in histories} == {
        "AnnualReviewWorkflow",
        "BlockCycleWorkflow",
        "CohortCycleWorkflow",
        "CreditBankWorkflow",
        "FieldStudySiteWorkflow",
        "RotationPlanWorkflow",
    }


@workflow.defn(name="CohortCycleWorkflow")
class ReorderedCycle:
    """A deliberately incompatible change: it sleeps before recording the cohort's start."""

    @workflow.run
    async def run(self, inp: CohortCycleInput) -> CohortCycleResult:
        await workflow.sleep(1)
        raise AssertionError("unreachable in replay")


async def test_replay_catches_a_non_deterministic_change(histories_dir: Path) -> None:
    first_run = next(h for h in read_histories(histories_dir) if workflow_type(h) == "CohortCycleWorkflow")
    replayer = Replayer(workflows=[ReorderedCycle], data_converter=pydantic_data_converter)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(first_run)
