"""(a) A full cohort cycle through every phase, with compressed timers.

The same steps as ``cohortflow.demo.cycle.run_cycle`` (start the cohort, drive it with
an in-process worker, summarise and verify), replicated from the public pieces
because the benchmark also needs the Temporal client and the first run id, to
walk the continue-as-new chain afterwards and measure every run's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from bench.memory import PeakRss
from cohortflow.audit.histories import run_chain
from cohortflow.audit.verify import verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.services.cohorts import start_cohort
from cohortflow.worker import in_process_worker
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleWorkflow, Counters, SampleFeed

HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 1024 * 1024
STATUS_EVERY = 0.5
CHECK_EVERY = 5.0
FAILED_ATTEMPTS = 3
"""An activity on this attempt has failed twice already: retrying the same work will not finish the benchmark."""


@dataclass(frozen=True)
class RunHistory:
    workflow_id: str
    run_id: str
    events: int
    bytes: int


@dataclass(frozen=True)
class HistoryStats:
    cohort_runs: list[RunHistory]
    child_runs: list[RunHistory]

    @property
    def largest(self) -> RunHistory:
        return max([*self.cohort_runs, *self.child_runs], key=lambda r: r.events)

    @property
    def max_events(self) -> int:
        return self.largest.events

    @property
    def max_bytes(self) -> int:
        return max(r.bytes for r in [*self.cohort_runs, *self.child_runs])

    @property
    def max_cohort_events(self) -> int:
        return max(r.events for r in self.cohort_runs)

    @property
    def max_child_events(self) -> int:
        return max((r.events for r in self.child_runs), default=0)


@dataclass(frozen=True)
class CycleResult:
    candidates: int
    """The programme's size (nominations expected)."""
    nominated: int
    selected_target: int
    selected: int
    completed: int
    events: int
    cycle_seconds: float
    """From starting the worker to the cycle's result."""
    total_seconds: float
    """As ``cohortflow demo`` reports it: also the summary and the whole-chain verification."""
    baseline_rss: int
    peak_rss: int
    chain_verified: bool
    history: HistoryStats
    day_seconds: float
    failure: str | None = None
    """Why the cycle was stopped before its result, if it was."""

    @property
    def finished(self) -> bool:
        return self.failure is None


def run_stats(history: WorkflowHistory) -> RunHistory:
    """One run's history: how many events, how many bytes."""
    size = sum(e.ByteSize() for e in history.events)
    return RunHistory(history.workflow_id, history.run_id, len(history.events), size)


async def history_stats(client: Client, workflow_id: str, first_run_id: str, child_ids: list[str]) -> HistoryStats:
    cohort_runs = [run_stats(h) for h in await run_chain(client, workflow_id, first_run_id)]
    child_runs: list[RunHistory] = []
    for child in child_ids:
        try:
            child_runs.append(run_stats(await client.get_workflow_handle(child).fetch_history()))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise  # a cycle stopped before its field study never started the site workflows
    return HistoryStats(cohort_runs, child_runs)


async def stalled_activity(client: Client, workflow_id: str) -> str | None:
    """A pending activity of the workflow (or of a child) that keeps failing, described; None if there is none."""
    description = (await client.get_workflow_handle(workflow_id).describe()).raw_description
    for pending in description.pending_activities:
        if pending.attempt >= FAILED_ATTEMPTS:
            return (
                f"activity {pending.activity_type.name} of {workflow_id} is on attempt {pending.attempt}; "
                f"last failure: {pending.last_failure.message or 'unknown'}"
            )
    for child in description.pending_children:
        found = await stalled_activity(client, child.workflow_id)
        if found is not None:
            return found
    return None


async def bench_cycle(
    database_url: str,
    temporal_address: str,
    *,
    candidates: int,
    selected: int,
    day_seconds: float,
    seed: int,
    limit_seconds: float,
    say: Callable[[str], None],
) -> CycleResult:
    """Run one cycle; stop it (and say why) when an activity keeps failing or ``limit_seconds`` pass."""
    programme = sample_programme(candidates, selected)
    with PeakRss() as rss:
        started = time.perf_counter()
        task_queue = f"bench-cycle-{uuid.uuid4().hex[:8]}"
        async with in_process_worker(database_url, temporal_address, task_queue) as (client, store):
            cohort_id = f"bench-{candidates}-{uuid.uuid4().hex[:6]}"
            handle = await start_cohort(
                client,
                CohortCycleInput(
                    cohort_id=cohort_id,
                    programme=programme,
                    day_seconds=day_seconds,
                    feed=SampleFeed(seed=seed),
                    actor="bench",
                ),
                task_queue,
            )
            result_task = asyncio.ensure_future(handle.result())
            phase: str | None = ""
            counters = Counters()
            failure: str | None = None
            checked = time.perf_counter()
            while not result_task.done():
                with contextlib.suppress(Exception):
                    status = await client.get_workflow_handle(handle.id).query(CohortCycleWorkflow.status)
                    counters = status.counters
                    if status.phase != phase:
                        phase = status.phase
                        say(f"  cycle {candidates:,}: phase {phase} (peak RSS so far {rss.peak / 2**20:.0f} MB)")
                if time.perf_counter() - checked >= CHECK_EVERY:
                    checked = time.perf_counter()
                    failure = await stalled_activity(client, handle.id)
                if failure is None and time.perf_counter() - started > limit_seconds:
                    failure = f"no result within {limit_seconds:,.0f} s"
                if failure is not None:
                    say(f"  cycle {candidates:,} STOPPED: {failure}")
                    await client.get_workflow_handle(handle.id).terminate(reason=f"benchmark stopped it: {failure}")
                    with contextlib.suppress(Exception):
                        await result_task
                    break
                await asyncio.wait([result_task], timeout=STATUS_EVERY)
            if failure is None:
                counters = result_task.result().counters
            cycle_seconds = time.perf_counter() - started
            summary = await cohort_summary(store, cohort_id)
            verification = await verify_store(store)
            total_seconds = time.perf_counter() - started
    first_run = handle.first_execution_run_id or handle.result_run_id
    if first_run is None:
        raise RuntimeError("the cohort workflow's first run id is unknown")
    children = [f"{handle.id}-site-{site.code}" for site in programme.field_study.sites]
    history = await history_stats(client, handle.id, first_run, children)
    return CycleResult(
        candidates=candidates,
        nominated=counters.candidates,
        selected_target=selected,
        selected=counters.selected,
        completed=counters.completed,
        events=summary.events,
        cycle_seconds=cycle_seconds,
        total_seconds=total_seconds,
        baseline_rss=rss.baseline,
        peak_rss=rss.peak,
        chain_verified=verification.ok,
        history=history,
        day_seconds=day_seconds,
        failure=failure,
    )
