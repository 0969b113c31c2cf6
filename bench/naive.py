"""(b) The naive design: one workflow per participant, on the same Temporal dev server.

Each participant's workflow performs that participant's steps of the same
programme as activities, one per step (nominate, record online study, record the
selection decision, place, record attendance, report back, answer each survey,
award credits), each appending that participant's event(s) to the real event
store with an idempotency key, and sleeps on the same compressed timeline
between phases. Timers aim at the same absolute programme days for everyone, so
a workflow started late does not stretch the programme.

Selection ranks all candidates, which no single participant's workflow can do:
it is computed once from the same sample facts with the domain's ``select``
(inside the timed run), and each workflow's selection step records its own
participant's part of that decision. The outcome equals the cohort cycle's for
the same seed, which the benchmark checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.memory import PeakRss
from bench.naive_steps import NaiveActivities, NaiveParticipantInput, NaiveParticipantResult, NaiveTimeline
from bench.naive_workflow import NaiveParticipantWorkflow
from cohortflow.demo import sample
from cohortflow.domain.programme import Programme
from cohortflow.domain.selection import Candidate, SelectionOutcome, select
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client

START_CONCURRENCY = 50
RESULT_CONCURRENCY = 200
PROGRESS_EVERY = 15.0
CACHE_MARGIN = 100


@dataclass(frozen=True)
class NaiveResult:
    participants: int
    finished: bool
    """False when the time budget ran out first; then ``estimated_seconds`` extrapolates from the progress made."""
    steps_done: int
    steps_expected: int
    selected: int
    completed: int
    credit_hours: float
    failed: int
    seconds: float
    """From the first start to the last completion."""
    start_seconds: float
    """How long starting every workflow took."""
    events: int
    peak_rss: int
    baseline_rss: int

    @property
    def estimated_seconds(self) -> float:
        """The whole run's time: measured if it finished, else at the activity rate reached within the budget."""
        if self.finished:
            return self.seconds
        return self.seconds * self.steps_expected / max(1, self.steps_done)


def selection_plan(programme: Programme, seed: int) -> SelectionOutcome:
    """The cohort-level ranking the per-participant design still needs, from the same sample facts."""
    candidates = []
    for person in sample.nominees(programme, seed):
        hours, delivered = sample.online_study(person.participant_id, seed)
        candidates.append(Candidate(person.participant_id, person.prefecture_code, hours, tuple(delivered)))
    return select(candidates, programme)


def timeline(programme: Programme, started_at: datetime, day_seconds: float) -> NaiveTimeline:
    return NaiveTimeline(
        started_at=started_at,
        day_seconds=day_seconds,
        online_study=programme.phase("online_study").start_day,
        selection=programme.phase("selection").start_day,
        field_study=programme.phase("field_study").start_day,
        return_to_post=programme.phase("return_to_post").start_day,
        follow_up=programme.phase("follow_up").start_day,
        completion=programme.phase("completion").start_day,
        surveys=[(s.code, s.after_days) for s in programme.follow_up],
    )


async def _terminate(handles: Sequence[WorkflowHandle[Any, NaiveParticipantResult]]) -> None:
    """Stop the workflows still running, so they cost the later parts of the benchmark nothing."""
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def stop(handle: WorkflowHandle[Any, NaiveParticipantResult]) -> None:
        async with gate:
            with contextlib.suppress(Exception):  # those already finished cannot be terminated
                await handle.terminate(reason="benchmark time budget spent")

    await asyncio.gather(*(stop(h) for h in handles))


async def _count_events(store: EventStore, cohort_id: str) -> int:
    total = 0
    async for event in store.read_all():
        total += event.stream_id.startswith(f"participant-{cohort_id}-")
    return total


async def bench_naive(
    database_url: str,
    temporal_address: str,
    *,
    participants: int,
    selected: int,
    day_seconds: float,
    seed: int,
    budget_seconds: float,
    say: Callable[[str], None],
) -> NaiveResult:
    """Run every participant's workflow; past ``budget_seconds``, stop and estimate from the progress made."""
    programme = sample.sample_programme(participants, selected)
    cohort_id = f"naive-{uuid.uuid4().hex[:6]}"
    task_queue = f"bench-naive-{uuid.uuid4().hex[:8]}"
    store = await EventStore.connect(database_url, max_size=8)
    client: Client = await connect_client(temporal_address)
    try:
        with PeakRss() as rss:
            started = time.perf_counter()
            outcome = selection_plan(programme, seed)
            acts = NaiveActivities(store, programme, outcome)
            worker = Worker(
                client,
                task_queue=task_queue,
                workflows=[NaiveParticipantWorkflow],
                activities=acts.all(),
                workflow_failure_exception_types=[workflow.NondeterminismError],
                # Every participant's workflow stays cached: with the default of 1,000 the worker would evict
                # and replay histories all the time, which would measure a misconfiguration, not the design.
                max_cached_workflows=participants + CACHE_MARGIN,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            async with worker:
                line = timeline(programme, datetime.now(UTC), day_seconds)
                people = sample.nominees(programme, seed)
                names = dict(sample.PREFECTURES)
                gate = asyncio.Semaphore(START_CONCURRENCY)

                async def start(index: int, prefecture_code: str) -> WorkflowHandle[Any, NaiveParticipantResult]:
                    async with gate:
                        return await client.start_workflow(
                            NaiveParticipantWorkflow.run,
                            NaiveParticipantInput(
                                cohort_id=cohort_id,
                                index=index,
                                prefecture_code=prefecture_code,
                                prefecture_name=names[prefecture_code],
                                seed=seed,
                                timeline=line,
                            ),
                            id=f"{cohort_id}-{sample.participant_id(index)}",
                            task_queue=task_queue,
                        )

                handles = await asyncio.gather(*(start(i, p.prefecture_code) for i, p in enumerate(people, start=1)))
                start_seconds = time.perf_counter() - started
                steps = 4 * participants + 7 * len(outcome.selected)
                say(
                    f"  naive: {len(handles):,} workflows started in {start_seconds:.1f} s; {steps:,} activities to run"
                )

                results: list[NaiveParticipantResult] = []
                failed = 0
                waiting = asyncio.Semaphore(RESULT_CONCURRENCY)

                async def finish(handle: WorkflowHandle[Any, NaiveParticipantResult]) -> None:
                    nonlocal failed
                    async with waiting:
                        try:
                            results.append(await handle.result())
                        except Exception:
                            failed += 1

                async def report() -> None:
                    while True:
                        await asyncio.sleep(PROGRESS_EVERY)
                        say(
                            f"  naive: {acts.steps_done:,} activities done; "
                            f"{len(results) + failed:,}/{len(handles):,} results collected"
                        )

                reporter = asyncio.create_task(report())
                everyone = asyncio.ensure_future(asyncio.gather(*(finish(h) for h in handles)))
                try:
                    remaining = budget_seconds - (time.perf_counter() - started)
                    await asyncio.wait([everyone], timeout=max(0.0, remaining))
                finally:
                    reporter.cancel()
                seconds = time.perf_counter() - started
                finished = everyone.done()
                steps_done = acts.steps_done
                if not finished:
                    everyone.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await everyone
                    say(
                        f"  naive: budget of {budget_seconds:,.0f} s spent with {steps_done:,}/{steps:,} activities "
                        "done; terminating the rest"
                    )
                    await _terminate(handles)
        events = await _count_events(store, cohort_id)
    finally:
        await store.close()
    return NaiveResult(
        participants=participants,
        finished=finished,
        steps_done=steps_done,
        steps_expected=steps,
        selected=sum(r.selected for r in results),
        completed=sum(r.completed for r in results),
        credit_hours=sum(r.credit_hours for r in results),
        failed=failed,
        seconds=seconds,
        start_seconds=start_seconds,
        events=events,
        peak_rss=rss.peak,
        baseline_rss=rss.baseline,
    )
