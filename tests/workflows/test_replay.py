"""Workflow code must still agree with every history recorded under earlier code.

The histories under tests/histories were recorded from real runs (see
record_histories.py). A non-deterministic change to workflow code fails here,
in CI, long before it would break a cohort that has been running for years.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from cohortflow.workflows import WORKFLOWS
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleResult


def recorded(histories_dir: Path) -> list[WorkflowHistory]:
    files = sorted(histories_dir.glob("*.json"))
    assert files, "no recorded histories: run `make histories` and commit them"
    # Files are named {tag}__{workflow id}__{n}.json: replay needs the real workflow id.
    return [WorkflowHistory.from_json(f.stem.split("__")[1], f.read_text()) for f in files]


async def _each(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def test_current_code_replays_every_recorded_history(histories_dir: Path) -> None:
    histories = recorded(histories_dir)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    results = await replayer.replay_workflows(_each(histories), raise_on_replay_failure=False)
    failures = {wid: str(err) for wid, err in results.replay_failures.items()}
    assert failures == {}
    kinds = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories}
    assert kinds == {"CohortCycleWorkflow", "FieldStudySiteWorkflow"}


@workflow.defn(name="CohortCycleWorkflow")
class ReorderedCycle:
    """A deliberately incompatible change: it skips recording the cohort's start."""

    @workflow.run
    async def run(self, inp: CohortCycleInput) -> CohortCycleResult:
        await workflow.sleep(1)
        raise AssertionError("unreachable in replay")


async def test_replay_catches_a_non_deterministic_change(histories_dir: Path) -> None:
    first_run = next(
        h
        for h in recorded(histories_dir)
        if h.events[0].workflow_execution_started_event_attributes.workflow_type.name == "CohortCycleWorkflow"
    )
    replayer = Replayer(workflows=[ReorderedCycle], data_converter=pydantic_data_converter)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(first_run)
