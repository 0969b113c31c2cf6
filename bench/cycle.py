"""(a) A full cohort cycle through every phase, with compressed timers.

The same steps as ``cohortflow.demo.run_cycle`` (start the cohort, drive it with
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

from temporalio.client import Client

from bench.memory import PeakRss
from cohortflow.cohorts import start_cohort
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.sample import sample_programme
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client, run_worker
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleWorkflow, SampleFeed

HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 1024 * 1024
STATUS_EVERY = 0.5


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


@dataclass(frozen=True)
class CycleResult:
    candidates: int
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


async def run_history(client: Client, workflow_id: str, run_id: str | None) -> tuple[RunHistory, str | None]:
    """One run's history size, and the run it continued as (if it did)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    events = history.events
    last = events[-1]
    next_run: str | None = None
    if last.HasField("workflow_execution_continued_as_new_event_attributes"):
        next_run = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    size = sum(e.ByteSize() for e in events)
    return RunHistory(workflow_id, history.run_id, len(events), size), next_run


async def history_stats(client: Client, workflow_id: str, first_run_id: str, child_ids: list[str]) -> HistoryStats:
    cohort_runs: list[RunHistory] = []
    run_id: str | None = first_run_id
    while run_id is not None:
        run, run_id = await run_history(client, workflow_id, run_id)
        cohort_runs.append(run)
    child_runs = [(await run_history(client, child, None))[0] for child in child_ids]
    return HistoryStats(cohort_runs, child_runs)


async def bench_cycle(
    database_url: str,
    temporal_address: str,
    *,
    candidates: int,
    selected: int,
    day_seconds: float,
    seed: int,
    say: Callable[[str], None],
) -> CycleResult:
    programme = sample_programme(candidates, selected)
    with PeakRss() as rss:
        started = time.perf_counter()
        store = await EventStore.connect(database_url)
        stop = asyncio.Event()
        client = await connect_client(temporal_address)
        task_queue = f"bench-cycle-{uuid.uuid4().hex[:8]}"
        worker = asyncio.create_task(run_worker(client, store, task_queue, stop))
        try:
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
            while not result_task.done():
                with contextlib.suppress(Exception):
                    status = await client.get_workflow_handle(handle.id).query(CohortCycleWorkflow.status)
                    if status.phase != phase:
                        phase = status.phase
                        say(f"  cycle {candidates:,}: phase {phase} (peak RSS so far {rss.peak / 2**20:.0f} MB)")
                await asyncio.wait([result_task], timeout=STATUS_EVERY)
            result = result_task.result()
            cycle_seconds = time.perf_counter() - started
            summary = await cohort_summary(store, cohort_id)
            verification = await store.verify()
            total_seconds = time.perf_counter() - started
        finally:
            stop.set()
            await worker
            await store.close()
    first_run = handle.first_execution_run_id or handle.result_run_id
    if first_run is None:
        raise RuntimeError("the cohort workflow's first run id is unknown")
    children = [f"{handle.id}-site-{site.code}" for site in programme.field_study.sites]
    history = await history_stats(client, handle.id, first_run, children)
    return CycleResult(
        candidates=result.counters.candidates,
        selected_target=selected,
        selected=result.counters.selected,
        completed=result.counters.completed,
        events=summary.events,
        cycle_seconds=cycle_seconds,
        total_seconds=total_seconds,
        baseline_rss=rss.baseline,
        peak_rss=rss.peak,
        chain_verified=verification.ok,
        history=history,
        day_seconds=day_seconds,
    )
