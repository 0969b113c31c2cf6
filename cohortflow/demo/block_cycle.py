"""`cohortflow demo --programme FILE`: any block template's cohort, fed with generated files through imports."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from cohortflow.audit.verify import verify_store
from cohortflow.demo.block_feed import BlockFeed
from cohortflow.demo.feeding import Progress, drive
from cohortflow.demo.session import DemoSession
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.services.cohorts import start_block_cohort
from cohortflow.workflows.block_cycle import BlockCycleInput
from cohortflow.workflows.cohort_cycle import CohortCycleResult, Counters


class BlockDemoReport(BaseModel):
    cohort_id: str
    programme_id: str
    programme_version: int
    blocks: int
    counters: Counters
    events: int
    chain_verified: bool
    head_position: int
    head_digest: str
    wall_seconds: float


async def run_block_cycle(
    session: DemoSession,
    template: ProgrammeTemplate,
    *,
    seed: int,
    on_progress: Callable[[Progress], None] | None = None,
) -> BlockDemoReport:
    """Start a cohort of ``template``, feed each block as it opens, and summarise it once it completes."""
    started = time.perf_counter()
    cohort_id, store = session.cohort_id, session.store
    inp = BlockCycleInput(cohort_id=cohort_id, template=template, actor="demo")
    handle = await start_block_cohort(session.client, inp, session.task_queue)
    feed = BlockFeed(session.client, store, cohort_id, template, seed)
    await drive(session.client, session.uploads, cohort_id, feed, session.advance(), on_progress)
    result: CohortCycleResult = await handle.result()
    events = sum([1 async for _ in store.read_stream(cohort_stream(cohort_id))])
    verification = await verify_store(store)
    return BlockDemoReport(
        cohort_id=cohort_id,
        programme_id=template.id,
        programme_version=template.version,
        blocks=len(template.stages),
        counters=result.counters,
        events=events,
        chain_verified=verification.ok,
        head_position=verification.head_position,
        head_digest=verification.head_hash,
        wall_seconds=round(time.perf_counter() - started, 2),
    )
