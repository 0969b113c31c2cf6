"""A keyed Update sent again after the workflow continued as new gets its first answer, and is not run again.

A small workflow that continues as new after every command stands in for a
cohort closing a phase or a block: the mechanism is the interceptor's, whatever
the command.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cohortflow.workflows.kept_answers import KEPT, WORKFLOW_INTERCEPTORS, keyed_update_id
from tests.workflows.helpers import next_run


class TallyInput(BaseModel):
    total: int = 0
    kept_answers: dict[str, Any] = Field(default_factory=dict)


class Tallied(BaseModel):
    total: int


@workflow.defn(sandboxed=False)  # a test module is no workflow file: it imports what the sandbox refuses
class TallyWorkflow:
    @workflow.init
    def __init__(self, inp: TallyInput) -> None:
        self._inp = inp
        self._added = False

    def kept_answers(self) -> dict[str, Any]:
        return self._inp.kept_answers

    @workflow.run
    async def run(self, inp: TallyInput) -> None:
        await workflow.wait_condition(lambda: self._added)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._inp)

    @workflow.update
    async def add(self, amount: int) -> Tallied:
        self._inp.total += amount
        self._added = True
        return Tallied(total=self._inp.total)

    @add.validator
    def _validate_add(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError(f"cannot add {amount}")

    @workflow.query
    def total(self) -> int:
        return self._inp.total


async def add(handle: WorkflowHandle[Any, Any], amount: int, key: str | None = None) -> int:
    """Add under ``key`` (or none), and wait for the run the command ended to have continued as new."""
    run = (await handle.describe()).run_id
    update_id = None if key is None else keyed_update_id("add", key)
    answer = await handle.execute_update(TallyWorkflow.add, amount, id=update_id)
    await next_run(handle, run)
    return answer.total


@pytest.fixture
async def tally(time_skipping: WorkflowEnvironment, task_queue: str) -> Any:
    client = time_skipping.client
    worker = Worker(client, task_queue=task_queue, workflows=[TallyWorkflow], interceptors=WORKFLOW_INTERCEPTORS)
    async with worker:
        handle = await client.start_workflow(TallyWorkflow.run, TallyInput(), id="tally", task_queue=task_queue)
        yield handle
        await handle.terminate("done")


async def test_a_keyed_command_sent_again_in_the_next_run_gets_its_first_answer(tally: Any) -> None:
    assert await add(tally, 5, key="k1") == 5
    answer = await tally.execute_update(TallyWorkflow.add, 5, id=keyed_update_id("add", "k1"))
    assert answer.total == 5 and await tally.query(TallyWorkflow.total) == 5  # answered, not added again
    assert await add(tally, 5) == 10  # without a key, a command is a new one


async def test_a_refused_command_is_not_kept_and_is_judged_again(tally: Any) -> None:
    refused = keyed_update_id("add", "k0")
    with pytest.raises(WorkflowUpdateFailedError):
        await tally.execute_update(TallyWorkflow.add, 0, id=refused)
    assert await add(tally, 2, key="k2") == 2
    with pytest.raises(WorkflowUpdateFailedError):  # in the next run too: no answer was kept for it
        await tally.execute_update(TallyWorkflow.add, 0, id=refused)
    assert await tally.query(TallyWorkflow.total) == 2


async def test_only_the_newest_answers_are_carried(tally: Any) -> None:
    for n in range(KEPT + 1):
        assert await add(tally, 1, key=f"k{n}") == n + 1
    newest = keyed_update_id("add", f"k{KEPT}")
    assert (await tally.execute_update(TallyWorkflow.add, 1, id=newest)).total == KEPT + 1
    # The oldest answer was dropped to carry the newest: that command is judged (and applied) as a new one.
    oldest = keyed_update_id("add", "k0")
    assert (await tally.execute_update(TallyWorkflow.add, 1, id=oldest)).total == KEPT + 2
