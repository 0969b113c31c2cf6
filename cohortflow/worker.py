"""The Temporal worker: every workflow and activity, the pydantic data converter.

Only this module, the API's app factory and the CLI wire the store and the
Temporal client together; nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RetryConfig
from temporalio.worker import Worker
from temporalio.workflow import NondeterminismError

from cohortflow.activities import all_activities
from cohortflow.activities.stalls import StallLog
from cohortflow.observability.temporal_runtime import temporal_runtime
from cohortflow.observability.tracing import temporal_interceptors
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows import WORKFLOWS
from cohortflow.workflows.kept_answers import WORKFLOW_INTERCEPTORS

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger()


async def connect_client(
    address: str,
    namespace: str = "default",
    *,
    answer_within: float | None = None,
    runtime: Runtime | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Client:
    """A client of the Temporal server; with ``answer_within`` (seconds), a call the server does not answer is
    retried only that long before it raises, so that a request to the API is answered while Temporal is out.
    Without it, the SDK's default: about 10 s of retries. ``runtime`` (``temporal_runtime``) is the SDK's
    telemetry for the client and any worker on it; without it, the process's default runtime. With
    ``tracer_provider``, what the client starts and what a worker on it runs is traced."""
    retries = None
    if answer_within is not None:
        retries = RetryConfig(max_elapsed_time_millis=round(answer_within * 1000), max_interval_millis=500)
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        retry_config=retries,
        runtime=runtime,
        interceptors=temporal_interceptors(tracer_provider),
    )


def build_worker(client: Client, store: EventStore, task_queue: str, uploads: Path | None = None) -> Worker:
    """``uploads`` is where the API leaves uploaded files; without it, imports are refused."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=all_activities(store, uploads),
        interceptors=[StallLog(), *WORKFLOW_INTERCEPTORS],
        # A non-deterministic change must fail loudly, not retry workflow tasks forever.
        workflow_failure_exception_types=[NondeterminismError],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(
    client: Client, store: EventStore, task_queue: str, stop: asyncio.Event, uploads: Path | None = None
) -> None:
    """Run until ``stop`` is set, then finish in-flight activities and shut down cleanly."""
    worker = build_worker(client, store, task_queue, uploads)
    async with worker:
        log.info("worker started", task_queue=task_queue)
        await stop.wait()
        log.info("worker stopping", task_queue=task_queue)
    log.info("worker stopped", task_queue=task_queue)


@asynccontextmanager
async def in_process_worker(
    database_url: str, temporal_address: str, task_queue: str, uploads: Path | None = None
) -> AsyncIterator[tuple[Client, EventStore]]:
    """A worker running beside the caller (demo, benchmarks) until the block ends."""
    store = await EventStore.connect(database_url)
    stop = asyncio.Event()
    try:
        client = await connect_client(temporal_address)
        worker = asyncio.create_task(run_worker(client, store, task_queue, stop, uploads))
        try:
            yield client, store
        finally:
            stop.set()
            await worker
    finally:
        await store.close()


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def main(
    database_url: str,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    uploads: Path,
    metrics_address: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """Entry point of ``cohortflow worker`` against configured PostgreSQL and Temporal; the SDK's metrics are
    served at ``metrics_address`` and workflows and activities traced to ``tracer_provider``, when given."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    store = await EventStore.connect(database_url)
    try:
        client = await connect_client(
            temporal_address, namespace, runtime=temporal_runtime(metrics_address), tracer_provider=tracer_provider
        )
        await run_worker(client, store, task_queue, stop, uploads)
    finally:
        await store.close()
