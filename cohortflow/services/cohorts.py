"""Client-side operations on cohorts, shared by the CLI, the API and the demo."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import ProgrammeInvalid, programme_problems
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate, template_problems
from cohortflow.services import programmes
from cohortflow.services.digest_schedules import schedule_digests
from cohortflow.services.starting import start_once
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleWorkflow
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleResult, CohortCycleWorkflow, workflow_id


class CohortExists(Exception):
    pass


async def start_cohort(
    client: Client, inp: CohortCycleInput, task_queue: str
) -> WorkflowHandle[CohortCycleWorkflow, CohortCycleResult]:
    """Start ``cohort-{id}`` and its digest schedules; a self-contradictory programme or a reused id is refused first.

    Weekly digests need a Temporal server with Schedules; the time-skipping test server has none.
    """
    problems = programme_problems(inp.programme)
    if problems:
        raise ProgrammeInvalid(problems)
    exists = CohortExists(phrase("cohort {cohort_id} already exists", cohort_id=inp.cohort_id))
    handle: WorkflowHandle[CohortCycleWorkflow, CohortCycleResult] = await start_once(
        client, CohortCycleWorkflow.run, inp, workflow_id(inp.cohort_id), task_queue, exists
    )
    await schedule_digests(client, inp.cohort_id, inp.programme, task_queue)
    return handle


async def start_block_cohort(client: Client, inp: BlockCycleInput, task_queue: str) -> WorkflowHandle[Any, Any]:
    """Start ``cohort-{id}`` running a block template; a self-contradictory template or a reused id is refused first."""
    problems = template_problems(inp.template)
    if problems:
        raise ProgrammeInvalid(problems)
    exists = CohortExists(phrase("cohort {cohort_id} already exists", cohort_id=inp.cohort_id))
    return await start_once(client, BlockCycleWorkflow.run, inp, workflow_id(inp.cohort_id), task_queue, exists)


async def start_version(
    client: Client,
    store: EventStore,
    task_queue: str,
    *,
    cohort_id: str,
    programme_id: str,
    version: int,
    actor: str,
    day_seconds: float = 86_400.0,
) -> tuple[WorkflowHandle[Any, Any], AnyTemplate]:
    """Start a cohort under a recorded programme version (a block template or the seven phases), which stays pinned
    for the cohort's life; the version is ``LookupError`` if it was never recorded."""
    programme = await programmes.load(store, programme_id, version)
    if isinstance(programme, ProgrammeTemplate):
        blocks = BlockCycleInput(cohort_id=cohort_id, template=programme, day_seconds=day_seconds, actor=actor)
        return await start_block_cohort(client, blocks, task_queue), programme
    phases = CohortCycleInput(cohort_id=cohort_id, programme=programme, day_seconds=day_seconds, actor=actor)
    return await start_cohort(client, phases, task_queue), programme
