"""Temporal histories of a cohort: exported to files, replayed against the current code.

A replay shows that today's workflow code still makes the same decisions as the
code that ran, so the recorded events can be trusted to follow from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.workflows import WORKFLOWS
from cohortflow.workflows.kept_answers import WORKFLOW_INTERCEPTORS


async def run_chain(client: Client, workflow_id: str, first_run_id: str | None = None) -> list[WorkflowHistory]:
    """Histories of every run of a workflow, following its continue-as-new chain from the first run."""
    if first_run_id is None:
        first_run_id = (
            await client.get_workflow_handle(workflow_id).describe()
        ).raw_description.workflow_execution_info.first_run_id
    histories = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return histories


async def cohort_histories(client: Client, cohort_id: str, programme: Programme) -> list[WorkflowHistory]:
    """The cohort workflow's runs and its field-study sites' workflows."""
    workflow_id = cohort_stream(cohort_id)
    histories = await run_chain(client, workflow_id)
    for site in programme.field_study.sites:
        histories.append(await client.get_workflow_handle(f"{workflow_id}-site-{site.code}").fetch_history())
    return histories


def write_histories(histories: list[WorkflowHistory], out: Path, tag: str) -> list[Path]:
    """One JSON file per history, named ``{tag}__{workflow id}__{n}.json`` (replay needs the id)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, history in enumerate(histories):
        path = out / f"{tag}__{history.workflow_id}__{i:02d}.json"
        path.write_text(history.to_json())
        paths.append(path)
    return paths


def read_histories(folder: Path) -> list[WorkflowHistory]:
    files = sorted(folder.glob("*__*__*.json"))
    if not files:
        raise LookupError(phrase("no workflow histories (*__*__*.json) in {folder}", folder=folder))
    return [WorkflowHistory.from_json(f.stem.split("__")[1], f.read_text()) for f in files]


class ReplayOutcome(BaseModel):
    workflow_id: str
    run_id: str
    agrees: bool
    problem: str = ""


async def replay_histories(histories: list[WorkflowHistory]) -> list[ReplayOutcome]:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(workflows=WORKFLOWS, interceptors=WORKFLOW_INTERCEPTORS, data_converter=pydantic_data_converter)
    outcomes = []
    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            run_id = result.history.run_id
            failure = result.replay_failure
            outcomes.append(
                ReplayOutcome(
                    workflow_id=result.history.workflow_id,
                    run_id=run_id,
                    agrees=failure is None,
                    problem=str(failure) if failure else "",
                )
            )
    return outcomes
