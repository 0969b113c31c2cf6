"""Feeding a block template's cohort with generated files, through the import path an administrator uses.

Each file is left in the uploads directory under its digest and sent to the
cohort's workflow as an ``import_file`` Update, exactly as the API does after
an upload; the cohort checks and applies it like any other. A block is fed
once, when it is first seen open.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cohortflow.activities.imports import ImportOutcome
from cohortflow.demo.block_files import block_files, nominees
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.block_cycle import BlockCycleStatus, BlockCycleWorkflow
from cohortflow.workflows.cohort_cycle import CohortCycleResult, FileImport, workflow_id

Advance = Callable[[BlockCycleStatus], Awaitable[None]]
"""Let time pass until the cohort's next step: a short poll on a real server, a skip on the test server."""


class FeedRefused(RuntimeError):
    """A generated file was not applied: the generator and the template disagree."""


async def status_of(handle: WorkflowHandle[BlockCycleWorkflow, CohortCycleResult]) -> BlockCycleStatus:
    for _ in range(100):
        try:
            return BlockCycleStatus.model_validate(await handle.query("status"))
        except Exception:  # a query can fall between two runs of continue-as-new
            await asyncio.sleep(0.05)
    return BlockCycleStatus.model_validate(await handle.query("status"))


async def feed_block(
    client: Client, store: EventStore, uploads: Path, cohort_id: str, template: ProgrammeTemplate, block: str, seed: int
) -> list[ImportOutcome]:
    """Generate the block's files from the cohort's facts as they are and import each; refused files raise."""
    found = template.block(block)
    assert found is not None
    if found.kind == "enrolment":
        files = [nominees(template, seed)]
    else:
        files = block_files(template, await cohort_facts(store, cohort_id), found, seed)
    handle = client.get_workflow_handle_for(BlockCycleWorkflow.run, workflow_id(cohort_id))
    outcomes = []
    for kind, content in files:
        digest = hashlib.sha256(content).hexdigest()
        uploads.mkdir(parents=True, exist_ok=True)
        (uploads / digest).write_bytes(content)
        req = FileImport(kind=kind, digest=digest, filename=f"{block}-{kind}.csv", actor="demo", block=block)
        try:
            outcome: ImportOutcome = await handle.execute_update(BlockCycleWorkflow.import_file, req)
        except WorkflowUpdateFailedError as exc:
            why = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause)
            raise FeedRefused(f"{block}: the {kind} file was refused: {why}") from None
        if outcome.status == "refused":
            raise FeedRefused(f"{block}: the {kind} file was refused: {outcome.problems[:3]}")
        outcomes.append(outcome)
    return outcomes


async def drive(
    client: Client,
    store: EventStore,
    uploads: Path,
    cohort_id: str,
    template: ProgrammeTemplate,
    seed: int,
    advance: Advance,
    on_status: Callable[[BlockCycleStatus], None] | None = None,
) -> BlockCycleStatus:
    """Feed every block as it opens until the cohort finishes; the last status seen."""
    handle = client.get_workflow_handle_for(BlockCycleWorkflow.run, workflow_id(cohort_id))
    fed: set[str] = set()
    while True:
        status = await status_of(handle)
        if on_status is not None:
            on_status(status)
        for block in status.open_blocks:
            if block.code not in fed:
                await feed_block(client, store, uploads, cohort_id, template, block.code, seed)
                fed.add(block.code)
        if status.finished:
            return status
        if status.next_at is None:  # still recording its start
            await asyncio.sleep(0.05)
            continue
        await advance(status)
