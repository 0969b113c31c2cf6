"""Shared helpers for the workflow tests: a worker on the test's task queue, history reading."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.feeding import drive, import_files, skip_past
from cohortflow.demo.phase_feed import PhaseFeed
from cohortflow.domain.programme import Programme
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import build_worker
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow, CycleStatus


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def next_run(handle: WorkflowHandle[Any, Any], run_id: str | None) -> None:
    """Wait until the workflow has continued as new from the run ``run_id``."""

    async def continued() -> bool:
        return (await handle.describe()).run_id != run_id

    await eventually(continued, f"the run after {run_id}")


@asynccontextmanager
async def running_worker(
    client: Client, store: EventStore, task_queue: str, uploads: Path | None = None
) -> AsyncIterator[None]:
    async with build_worker(client, store, task_queue, uploads):
        yield


async def feed_until_done(
    env: WorkflowEnvironment, store: EventStore, uploads: Path, cohort_id: str, programme: Programme, seed: int
) -> None:
    """Feed a seven-phase cohort its generated files as each phase opens, letting time pass between them."""
    feed = PhaseFeed(env.client, store, cohort_id, programme, seed)
    await drive(env.client, uploads, cohort_id, feed, skip_past(env))


async def feed_phase(
    client: Client, store: EventStore, uploads: Path, cohort_id: str, programme: Programme, phase: str, seed: int
) -> None:
    """Wait until ``phase`` is open and import its generated files."""
    await wait_for_status(client, f"cohort-{cohort_id}", lambda s: s.phase == phase)
    feed = PhaseFeed(client, store, cohort_id, programme, seed)
    await import_files(client, uploads, cohort_id, phase, await feed.files(phase), scoped=False)


async def event_types(store: EventStore, cohort_id: str) -> Counter[str]:
    return Counter([e.type async for e in store.read_stream(f"cohort-{cohort_id}")])


async def wait_for_status(
    client: Client, workflow_id: str, predicate: Callable[[CycleStatus], bool], timeout: float = 60
) -> CycleStatus:
    """Poll the cohort's status query (following continue-as-new) until ``predicate`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: CycleStatus | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await client.get_workflow_handle(workflow_id).query(CohortCycleWorkflow.status)
            if predicate(last):
                return last
        except Exception:
            pass  # a query can fall between two runs of continue-as-new
        await asyncio.sleep(0.05)
    raise AssertionError(f"status never matched; last seen {last}")


def first_run_id(handle: WorkflowHandle[Any, Any]) -> str:
    assert handle.first_execution_run_id is not None
    return handle.first_execution_run_id


async def terminate_cohorts(client: Client, store: EventStore) -> None:
    """End every cohort and rotation-plan workflow started against ``store``.

    The time-skipping server is shared by the whole session; a cohort left
    waiting for a worker that has gone would hold its clock for later tests.
    """
    async for event in store.read_all():
        if event.type in ("CohortStarted", "PlanStarted"):
            workflow_id = f"cohort-{event.data['cohort_id']}" if "cohort_id" in event.data else event.stream_id
            with contextlib.suppress(RPCError):  # already closed
                await client.get_workflow_handle(workflow_id).terminate(reason="test ended")
