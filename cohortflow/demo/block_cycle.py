"""`cohortflow demo --programme FILE`: any block template's cohort, fed with generated files through imports."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from cohortflow.audit.verify import verify_store
from cohortflow.demo.block_feed import drive
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.services.cohorts import start_block_cohort
from cohortflow.worker import in_process_worker
from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleStatus
from cohortflow.workflows.cohort_cycle import Counters

POLL_SECONDS = 0.05


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
    database_url: str,
    temporal_address: str,
    template: ProgrammeTemplate,
    *,
    day_seconds: float,
    seed: int,
    on_status: Callable[[BlockCycleStatus], None] | None = None,
) -> BlockDemoReport:
    """Start a cohort of ``template``, feed each block as it opens, and summarise it once it completes."""
    started = time.perf_counter()
    task_queue = f"cohortflow-demo-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="cohortflow-uploads-") as tmp:
        uploads = Path(tmp)
        async with in_process_worker(database_url, temporal_address, task_queue, uploads) as (client, store):
            cohort_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            inp = BlockCycleInput(cohort_id=cohort_id, template=template, day_seconds=day_seconds, actor="demo")
            handle = await start_block_cohort(client, inp, task_queue)

            async def poll(_: BlockCycleStatus) -> None:
                await asyncio.sleep(POLL_SECONDS)

            await drive(client, store, uploads, cohort_id, template, seed, poll, on_status)
            counters = (await handle.result()).counters
            events = sum([1 async for _ in store.read_stream(f"cohort-{cohort_id}")])
            verification = await verify_store(store)
    return BlockDemoReport(
        cohort_id=cohort_id,
        programme_id=template.id,
        programme_version=template.version,
        blocks=len(template.stages),
        counters=counters,
        events=events,
        chain_verified=verification.ok,
        head_position=verification.head_position,
        head_digest=verification.head_hash,
        wall_seconds=round(time.perf_counter() - started, 2),
    )
