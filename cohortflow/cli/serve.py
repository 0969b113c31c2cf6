"""`cohortflow up`'s processes in one: the worker, the API and, when a channel is configured, the dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from cohortflow.api.app import create_app
from cohortflow.cli.reminders import channels_configured, serve_dispatcher
from cohortflow.observability.temporal_runtime import temporal_runtime
from cohortflow.observability.tracing import configured_provider
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client, run_worker, stop_on_signals


def reminder_channels(settings: Settings) -> str:
    channels = []
    if settings.smtp_host:
        channels.append(f"email via {settings.smtp_host}:{settings.smtp_port}")
    if settings.webhook_url:
        channels.append(f"webhook {settings.webhook_url}")
    if not channels:
        return "no channel configured (COHORTFLOW_SMTP_HOST, COHORTFLOW_WEBHOOK_URL): reminders wait in the outbox"
    return ", ".join(channels)


class _QuietServer(uvicorn.Server):
    """Signals belong to `cohortflow up`, which stops the worker and the API together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, database_url: str, temporal_address: str) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    store = await EventStore.connect(database_url)
    client = await connect_client(
        temporal_address,
        settings.temporal_namespace,
        runtime=temporal_runtime(settings.temporal_metrics_address),
        tracer_provider=configured_provider(settings),
    )
    server = _QuietServer(
        uvicorn.Config(
            create_app(settings, database_url, temporal_address=temporal_address),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            log_config=None,  # its lines go through the service's logging (JSON when chosen), not its own
        )
    )
    api = asyncio.create_task(server.serve())
    reminders = (
        asyncio.create_task(serve_dispatcher(settings, database_url, stop)) if channels_configured(settings) else None
    )
    try:
        await run_worker(client, store, settings.task_queue, stop, settings.uploads)
    finally:
        stop.set()
        server.should_exit = True
        await api
        if reminders is not None:
            await reminders
        await store.close()
