"""The real API served over real HTTP, for synchronous clients such as schemathesis.

pytest-asyncio runs every async test on one session loop, and a synchronous
client would block it; so the app, its store, a worker and uvicorn get a thread
and an event loop of their own. The Temporal client there is a new connection to
the given server (time-skipping in the tests), so time passes on it as on a
wall clock. Errors the server logs (an unhandled exception's traceback, a
failing workflow task) are kept, so that a test can show them beside the
request that caused them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError

from cohortflow.access.roles import ROLES
from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client, run_worker
from tests.access.units import unit_for

# Loggers whose warnings and errors explain a 5xx or a hung request.
WATCHED_LOGGERS = ("uvicorn.error", "temporalio")


class ServerLog(logging.Handler):
    """Formatted records (with tracebacks) of the watched loggers, in arrival order."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def since(self, mark: int) -> list[str]:
        return self.lines[mark:]


@dataclass
class LiveApi:
    base_url: str
    tokens: dict[str, str]
    log: ServerLog
    workflow_ids: set[str] = field(default_factory=set)
    """Workflows started through the API; they are terminated when the server stops."""

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


class _Server:
    def __init__(self, settings: Settings, database_url: str, temporal_address: str, prefecture: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.temporal_address = temporal_address
        self.prefecture = prefecture
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: uvicorn.Server | None = None
        self.base_url = ""
        self.tokens: dict[str, str] = {}
        self.workflow_ids: set[str] = set()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.failure = exc
        finally:
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        store = await EventStore.connect(self.database_url)
        try:
            for role in ROLES:
                issued = await issue_token(
                    store.pool,
                    name=f"fuzz-{role}",
                    role=role,
                    **unit_for(role, self.prefecture),
                    issued_by="tests",
                )
                self.tokens[role] = issued.secret
            client = await connect_client(self.temporal_address, self.settings.temporal_namespace)
            stop = asyncio.Event()
            worker = asyncio.create_task(
                run_worker(client, store, self.settings.task_queue, stop, uploads=self.settings.uploads)
            )
            try:
                await self._serve(client)
            finally:
                await self._terminate(client)
                stop.set()
                await worker
        finally:
            await store.close()

    async def _serve(self, client: Client) -> None:
        app = create_app(self.settings, self.database_url, temporal=client)
        # log_config=None: uvicorn must not reconfigure the test process's logging;
        # timeout_graceful_shutdown: a request still waiting (one a client gave up on) must not hold the shutdown
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", log_config=None, timeout_graceful_shutdown=5
        )
        self.server = server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready.set()
        await serving

    async def _terminate(self, client: Client) -> None:
        """End the workflows the API started, so none is left waiting on this task queue."""
        for workflow_id in sorted(self.workflow_ids):
            with suppress(RPCError):  # already closed
                await client.get_workflow_handle(workflow_id).terminate(reason="test server stopped")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True


@contextmanager
def live_api(
    settings: Settings,
    database_url: str,
    temporal_address: str,
    *,
    prefecture: str,
    startup_timeout: float = 60,
) -> Iterator[LiveApi]:
    """Serve the API on a free port until the block ends; tokens for every role, the coordinator's in ``prefecture``."""
    log = ServerLog()
    watched = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in watched:
        logger.addHandler(log)
    runner = _Server(settings, database_url, temporal_address, prefecture)
    thread = threading.Thread(target=runner.run, name="live-api", daemon=True)
    thread.start()
    try:
        if not runner.ready.wait(startup_timeout):
            raise TimeoutError(f"the API server did not start within {startup_timeout} s")
        if runner.failure is not None:
            raise RuntimeError("the API server failed to start") from runner.failure
        # the same set: ids the tests record are the ones terminated at shutdown
        yield LiveApi(runner.base_url, dict(runner.tokens), log, runner.workflow_ids)
    finally:
        runner.stop()
        thread.join(startup_timeout)
        for logger in watched:
            logger.removeHandler(log)
    if thread.is_alive():
        raise TimeoutError("the API server did not stop")
    if runner.failure is not None:
        raise RuntimeError("the API server failed") from runner.failure
