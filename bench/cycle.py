"""(a) A full cohort cycle through every phase, fed through the import path.

The same steps as ``cohortflow demo`` (start the sample cohort, feed each phase
its files through the ``import_file`` Update as it opens, let programme time
pass on the time-skipping server, summarise and verify), replicated from the
public pieces because the benchmark also splits the time and walks the
continue-as-new chain afterwards to measure every run's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from bench.memory import PeakRss
from cohortflow.audit.histories import run_chain
from cohortflow.audit.verify import verify_store
from cohortflow.demo.feeding import FeedTimes, Progress, drive, skip_past
from cohortflow.demo.phase_feed import PhaseFeed
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.runtime.time_skipping import start_time_skipping
from cohortflow.services.cohorts import start_cohort
from cohortflow.services.execution import execution_of
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import build_worker
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleResult, Counters

HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 1024 * 1024
CHECK_EVERY = 5.0
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
    """From starting the cohort to its result."""
    timers_seconds: float
    """Letting programme time pass: the skips, and the phase work the timers set off (selection, placements,
    batches, reminders, completion)."""
    imports_seconds: float
    """Generating each phase's files from the cohort's facts and importing them through the Update."""
    total_seconds: float
    """As ``cohortflow demo`` reports it: also the summary and the whole-chain verification."""
    baseline_rss: int
    peak_rss: int
    chain_verified: bool
    history: HistoryStats
    failure: str | None = None
    """Why the cycle was stopped before its result, if it was."""

    @property
    def finished(self) -> bool:
        return self.failure is None

    @property
    def rest_seconds(self) -> float:
        """Starting the cohort, waiting for its result, and the driver's polling."""
        return self.cycle_seconds - self.timers_seconds - self.imports_seconds


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


async def watch(
    client: Client, workflow_id: str, driving: asyncio.Future[Progress], limit_seconds: float
) -> str | None:
    """Wait for the driver; why the cycle must be stopped (an activity failing again and again, or the time limit)."""
    deadline = time.perf_counter() + limit_seconds
    while not driving.done():
        await asyncio.wait([driving], timeout=CHECK_EVERY)
        if driving.done():
            break
        with contextlib.suppress(RPCError):
            stall = (await execution_of(client, workflow_id)).stalled
            if stall is not None:
                return f"{stall.step} of {workflow_id} is on attempt {stall.attempt}; last failure: {stall.reason}"
        if time.perf_counter() > deadline:
            return f"no result within {limit_seconds:,.0f} s"
    driving.result()  # a feed that was refused ends the benchmark with its reason
    return None


async def bench_cycle(
    database_url: str,
    *,
    candidates: int,
    selected: int,
    seed: int,
    limit_seconds: float,
    say: Callable[[str], None],
) -> CycleResult:
    """Run one cycle; stop it (and say why) when an activity keeps failing or ``limit_seconds`` pass."""
    programme = sample_programme(candidates, selected)
    env = await start_time_skipping()
    client = env.client
    task_queue = f"bench-cycle-{uuid.uuid4().hex[:8]}"
    cohort_id = f"bench-{candidates}-{uuid.uuid4().hex[:6]}"
    times = FeedTimes()
    store = await EventStore.connect(database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="cohortflow-bench-uploads-") as tmp, PeakRss() as rss:
            uploads = Path(tmp)
            async with build_worker(client, store, task_queue, uploads):
                started = time.perf_counter()
                handle = await start_cohort(
                    client, CohortCycleInput(cohort_id=cohort_id, programme=programme, actor="bench"), task_queue
                )
                seen: list[tuple[str, ...]] = []

                def show(progress: Progress) -> None:
                    if progress.open and progress.open != (seen[-1] if seen else None):
                        seen.append(progress.open)
                        say(f"  cycle {candidates:,}: {', '.join(progress.open)} (peak RSS {rss.peak / 2**20:.0f} MB)")

                feed = PhaseFeed(client, store, cohort_id, programme, seed)
                driving = asyncio.ensure_future(drive(client, uploads, cohort_id, feed, skip_past(env), show, times))
                failure = await watch(client, handle.id, driving, limit_seconds)
                counters = Counters()
                if failure is None:
                    result: CohortCycleResult = await handle.result()
                    counters = result.counters
                else:
                    say(f"  cycle {candidates:,} STOPPED: {failure}")
                    driving.cancel()
                    await client.get_workflow_handle(handle.id).terminate(reason=f"benchmark stopped it: {failure}")
                cycle_seconds = time.perf_counter() - started
                summary = await cohort_summary(store, cohort_id)
                verification = await verify_store(store)
                total_seconds = time.perf_counter() - started
                first_run = handle.first_execution_run_id or handle.result_run_id
                if first_run is None:
                    raise RuntimeError("the cohort workflow's first run id is unknown")
                children = [f"{handle.id}-site-{site.code}" for site in programme.field_study.sites]
                history = await history_stats(client, handle.id, first_run, children)
    finally:
        await store.close()
        await env.shutdown()
    return CycleResult(
        candidates=candidates,
        nominated=summary.funnel["nominated"],
        selected_target=selected,
        selected=counters.selected,
        completed=counters.completed,
        events=summary.events,
        cycle_seconds=cycle_seconds,
        timers_seconds=times.timers,
        imports_seconds=times.imports,
        total_seconds=total_seconds,
        baseline_rss=rss.baseline,
        peak_rss=rss.peak,
        chain_verified=verification.ok,
        history=history,
        failure=failure,
    )
