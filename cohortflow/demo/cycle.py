"""`cohortflow demo`: the province-wide sample cohort through every phase, fed through imports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from pydantic import BaseModel
from sqlalchemy import bindparam, func, select

from cohortflow.audit.verify import verify_store
from cohortflow.demo.feeding import Progress, drive
from cohortflow.demo.phase_feed import PhaseFeed
from cohortflow.demo.sample import sample_programme
from cohortflow.demo.session import DemoSession
from cohortflow.readmodels.cohort_summary import CohortSummary, cohort_summary
from cohortflow.services.cohorts import start_cohort
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleResult


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
    dispatched: dict[str, int]
    """What the demo's own dispatcher did on the programme's clock (with a channel configured)."""


_outbox = t.reminder_outbox.c
_REMINDERS_BY_STATUS = Statement(
    select(_outbox.status, func.count())
    .where(_outbox.cohort_id == bindparam("cohort"))
    .group_by(_outbox.status)
    .order_by(_outbox.status)
)


async def run_cycle(
    session: DemoSession,
    *,
    candidates: int,
    selected: int,
    seed: int,
    on_progress: Callable[[Progress], None] | None = None,
) -> DemoReport:
    """Start the sample cohort, feed each phase its files as it opens, and summarise it once it completes."""
    started = time.perf_counter()
    programme = sample_programme(candidates, selected, reminders=True)
    cohort_id, store = session.cohort_id, session.store
    handle = await start_cohort(
        session.client, CohortCycleInput(cohort_id=cohort_id, programme=programme, actor="demo"), session.task_queue
    )
    feed = PhaseFeed(session.client, store, cohort_id, programme, seed)
    await drive(session.client, session.uploads, cohort_id, feed, session.advance(), on_progress)
    result: CohortCycleResult = await handle.result()
    summary = await cohort_summary(store, cohort_id)
    verification = await verify_store(store)
    async with store.pool.connection() as conn:
        cur = await execute(conn, _REMINDERS_BY_STATUS, cohort=cohort_id)
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
        dispatched={k: v for k, v in asdict(session.dispatched).items() if v},
    )
