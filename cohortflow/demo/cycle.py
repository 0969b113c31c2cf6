"""`cohortflow demo`: a province-wide sample cohort through every phase, on the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

from pydantic import BaseModel

from cohortflow.audit.verify import verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.cohort_summary import CohortSummary, cohort_summary
from cohortflow.services.cohorts import start_cohort
from cohortflow.worker import in_process_worker
from cohortflow.workflows.cohort_cycle import (
    CohortCycleInput,
    CohortCycleWorkflow,
    CycleStatus,
    SampleFeed,
)


class DemoReport(BaseModel):
    cohort_id: str
    candidates: int
    selected: int
    completed: int
    events: int
    chain_verified: bool
    verified_events: int
    head_position: int
    head_digest: str
    wall_seconds: float
    summary: CohortSummary
    reminders: dict[str, int]
    """Outbox messages by status: queued reminders wait for a dispatcher (``cohortflow reminder dispatch``)."""


async def run_cycle(
    database_url: str,
    temporal_address: str,
    *,
    candidates: int,
    selected: int,
    day_seconds: float,
    seed: int,
    on_status: Callable[[CycleStatus], None] | None = None,
) -> DemoReport:
    """Start a sample cohort, drive it to completion with an in-process worker, and summarise it."""
    started = time.perf_counter()
    task_queue = f"cohortflow-demo-{uuid.uuid4().hex[:8]}"
    async with in_process_worker(database_url, temporal_address, task_queue) as (client, store):
        cohort_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        handle = await start_cohort(
            client,
            CohortCycleInput(
                cohort_id=cohort_id,
                programme=sample_programme(candidates, selected, reminders=True),
                day_seconds=day_seconds,
                feed=SampleFeed(seed=seed),
                actor="demo",
            ),
            task_queue,
        )
        result_task = asyncio.ensure_future(handle.result())
        while not result_task.done():
            if on_status is not None:
                with contextlib.suppress(Exception):
                    on_status(await client.get_workflow_handle(handle.id).query(CohortCycleWorkflow.status))
            await asyncio.wait([result_task], timeout=0.5)
        result = result_task.result()
        summary = await cohort_summary(store, cohort_id)
        verification = await verify_store(store)
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT status, count(*) FROM reminder_outbox WHERE cohort_id = %s GROUP BY status ORDER BY status",
                (cohort_id,),
            )
            reminders = {status: count for status, count in await cur.fetchall()}
        return DemoReport(
            cohort_id=cohort_id,
            candidates=result.counters.candidates,
            selected=result.counters.selected,
            completed=result.counters.completed,
            events=summary.events,
            chain_verified=verification.ok,
            verified_events=verification.checked,
            head_position=verification.head_position,
            head_digest=verification.head_hash,
            wall_seconds=round(time.perf_counter() - started, 2),
            summary=summary,
            reminders=reminders,
        )
