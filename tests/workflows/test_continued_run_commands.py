"""A command that reaches a continued run in its first workflow task is decided against the state it was given.

A block cohort continues as new after every block closes, and a seven-phase
one when Temporal suggests it. An administrator's next command can reach the
new run in its first workflow task, where Temporal applies Updates before the
run method has started; it must still find the cohort's state there, not be
refused as "still starting". Update-with-start puts a command in a run's first
task every time, so the test need not race a real continue-as-new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.block_cycle import BlockCycleState
from cohortflow.domain.cycle import CycleState
from cohortflow.domain.template import parse_template
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client
from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleWorkflow, CloseBlock
from cohortflow.workflows.cohort_cycle import ClosePhase, CohortCycleInput, CohortCycleWorkflow
from tests.workflows.helpers import running_worker

PLACEMENT = Path(__file__).parents[2] / "examples" / "programmes" / "placement.yaml"


def continued_block_cohort() -> tuple[Any, BaseModel, Any, BaseModel]:
    template = parse_template(yaml.safe_load(PLACEMENT.read_text(encoding="utf-8")))
    enrolment = template.stages[0].code
    state = BlockCycleState(started_at=datetime.now(UTC), day_seconds=86_400, done=(f"open:{enrolment}",))
    inp = BlockCycleInput(cohort_id="continued-blocks", template=template, state=state)
    return BlockCycleWorkflow.run, inp, BlockCycleWorkflow.close_block, CloseBlock(block=enrolment, reason="名单已确定")


def continued_phase_cohort() -> tuple[Any, BaseModel, Any, BaseModel]:
    state = CycleState(started_at=datetime.now(UTC), day_seconds=86_400)
    inp = CohortCycleInput(cohort_id="continued-phases", programme=sample_programme(10, 2), state=state, progress=1)
    return CohortCycleWorkflow.run, inp, CohortCycleWorkflow.close_phase, ClosePhase(phase="nomination", reason="r")


@pytest.mark.parametrize("continued", [continued_block_cohort, continued_phase_cohort])
async def test_a_command_in_a_continued_runs_first_task_is_decided_on_its_state(
    continued: Any, dev_server: TemporalDevServer, store: EventStore, task_queue: str
) -> None:
    run, inp, command, request = continued()
    client = await connect_client(dev_server.address)
    start = WithStartWorkflowOperation(
        run,
        inp,
        id=f"cohort-{inp.cohort_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    async with running_worker(client, store, task_queue):
        outcome = await client.execute_update_with_start_workflow(command, request, start_workflow_operation=start)
        handle = await start.workflow_handle()
        await handle.terminate("the test needs only the command's answer")
    assert outcome.outcome == "closing"
