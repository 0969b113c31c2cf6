"""Feeding a cohort with generated files, through the import path an administrator uses.

Each file is left in the uploads directory under its digest and sent to the
cohort's workflow as an ``import_file`` Update, exactly as the API does after
an upload; the cohort checks and applies it like any other. A step (a phase of
the seven-phase form, a block of a block template) is fed once, when it is
first seen open. The two forms differ only in how their progress reads and
which files a step takes: :mod:`cohortflow.demo.phase_feed` and
:mod:`cohortflow.demo.block_feed`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.imports import ImportOutcome, ImportRecords, upload_path
from cohortflow.demo.csv_files import File
from cohortflow.workflows.cohort_cycle import FileImport, workflow_id

Advance = Callable[[datetime], Awaitable[None]]
"""Let time pass until just after the given moment: a skip on the time-skipping server."""

POLL_SECONDS = 0.05
SKIP_RPC_TIMEOUT = timedelta(hours=1)


class FeedRefused(RuntimeError):
    """A generated file was not applied: the generator and the template disagree."""


@dataclass(frozen=True)
class Progress:
    """Where a cohort stands, as the feeder needs it."""

    open: tuple[str, ...]
    """The steps open now (the phase, or the open blocks)."""
    next_at: datetime | None
    """When the next step opens or closes; None while the cohort is still recording its start."""
    finished: bool


class CohortFeed(Protocol):
    """One form's view of a running cohort: its progress, and the files each step takes."""

    scoped: bool
    """Whether an import names its step (a block cohort may have several open that take a kind)."""

    async def progress(self) -> Progress: ...

    async def files(self, step: str) -> Sequence[File]: ...


async def query_status(client: Client, cohort_id: str) -> object:
    """The cohort workflow's ``status`` query, retried across the moment a run continues as new."""
    handle = client.get_workflow_handle(workflow_id(cohort_id))
    for _ in range(100):
        try:
            return await handle.query("status")
        except Exception:
            await asyncio.sleep(POLL_SECONDS)
    return await handle.query("status")


def stage(uploads: Path, content: bytes) -> str:
    """Leave a file in the uploads directory under its digest, as the API does after an upload; the digest."""
    digest = hashlib.sha256(content).hexdigest()
    uploads.mkdir(parents=True, exist_ok=True)
    upload_path(uploads, digest).write_bytes(content)
    return digest


async def import_files(
    client: Client, uploads: Path, cohort_id: str, step: str, files: Sequence[File], *, scoped: bool
) -> list[ImportOutcome]:
    """Upload and import each file for ``step``; a refused file raises :class:`FeedRefused`."""
    handle = client.get_workflow_handle(workflow_id(cohort_id))
    outcomes = []
    for kind, content in files:
        digest = stage(uploads, content)
        req = FileImport(
            kind=kind, digest=digest, filename=f"{step}-{kind}.csv", actor="demo", block=step if scoped else None
        )
        try:
            outcome = await handle.execute_update("import_file", req, result_type=ImportOutcome)
        except WorkflowUpdateFailedError as exc:
            why = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause)
            raise FeedRefused(f"{step}: the {kind} file was refused: {why}") from None
        if outcome.status == "refused":
            raise FeedRefused(f"{step}: the {kind} file was refused: {outcome.problems[:3]}")
        outcomes.append(outcome)
    return outcomes


@dataclass
class FeedTimes:
    """Where the driver's wall time went: letting time pass (timers and the work they set off), or imports."""

    timers: float = 0.0
    imports: float = 0.0


async def drive(
    client: Client,
    uploads: Path,
    cohort_id: str,
    feed: CohortFeed,
    advance: Advance,
    on_progress: Callable[[Progress], None] | None = None,
    times: FeedTimes | None = None,
) -> Progress:
    """Feed every step as it opens until the cohort finishes; the last progress seen."""
    loop = asyncio.get_running_loop()
    fed: set[str] = set()
    while True:
        progress = await feed.progress()
        if on_progress is not None:
            on_progress(progress)
        for step in progress.open:
            if step not in fed:
                started = loop.time()
                await import_files(client, uploads, cohort_id, step, await feed.files(step), scoped=feed.scoped)
                if times is not None:
                    times.imports += loop.time() - started
                fed.add(step)
        if progress.finished:
            return progress
        if progress.next_at is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        started = loop.time()
        await advance(progress.next_at)
        if times is not None:
            times.timers += loop.time() - started


def skip_past(env: WorkflowEnvironment, limit: float | None = None) -> Advance:
    """On the time-skipping server: skip to an hour past the moment (skipping to its exact moment races the timer).

    With ``limit``, a skip that takes longer in wall seconds fails (a workflow left without a worker holds the
    test server's clock).
    """

    async def advance(moment: datetime) -> None:
        request = SleepRequest()
        request.duration.FromTimedelta(max(moment - await env.get_current_time(), timedelta(0)) + timedelta(hours=1))
        # As env.sleep does, but the call may last as long as the work the skipped timers set off (a
        # 50,000-person field study takes minutes); the client's default RPC timeout would cut it short.
        skipping = env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_RPC_TIMEOUT)
        await asyncio.wait_for(skipping, timeout=limit)

    return advance


async def import_in(env: ActivityEnvironment, acts: Activities, ref: CohortRef, file: File) -> ImportOutcome:
    """Run the import activity itself on a file, as the cohort does for an upload (tests and benchmarks)."""
    kind, content = file
    req = ImportRecords(ref=ref, kind=kind, digest=stage(acts.uploads, content), filename=f"{kind}.csv")
    outcome: ImportOutcome = await env.run(acts.import_records, req)
    return outcome
