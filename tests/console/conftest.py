"""The console served over real HTTP by uvicorn on 127.0.0.1, driven by Debian's Chromium through Playwright.

The browser is the one the Makefile installs (``make browser``; ``COHORTFLOW_BROWSER`` names another); Playwright's
own browser download is not used. Every request a page makes is recorded, so a test can check that nothing was
asked of any host but the console's own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.accounts import create_account
from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.workflows.helpers import running_worker

BROWSER = os.environ.get("COHORTFLOW_BROWSER", "/usr/bin/chromium")
# As the machine's notes advise: without these Chromium reaches for Google's hosts at start.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
SIGN_IN_LIMIT = 3
COORDINATED = "430200"
"""The coordinator account's prefecture: in the province-wide sample cohort, not in the three-person one."""


@dataclass
class Console:
    address: str
    store: EventStore
    browser: Browser
    requested: list[str] = field(default_factory=list)
    temporal: WorkflowEnvironment | None = None
    task_queue: str = ""

    async def page(self, width: int = 1366, height: int = 768) -> Page:
        context: BrowserContext = await self.browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        page.on("request", lambda request: self.requested.append(request.url))
        return page

    async def signed_in(self, name: str, password: str = PASSWORD) -> Page:
        page = await self.page()
        await page.goto(f"{self.address}/console/sign-in")
        await page.fill("#name", name)
        await page.fill("#password", password)
        await page.click("#submit")
        await page.wait_for_url(f"{self.address}/console/dashboard")
        return page


@asynccontextmanager
async def serving(
    database_url: str,
    store: EventStore,
    temporal: Client,
    state_dir: Path,
    task_queue: str | None = None,
    configured: Mapping[str, Any] | None = None,
) -> AsyncIterator[Console]:
    """The app on a free port of 127.0.0.1, its accounts created, and a headless Chromium to drive it; ``configured``
    sets more of its settings."""
    for name, role, unit in [
        ("admin", "admin", {}),
        ("auditor", "auditor", {}),
        ("coordinator", "coordinator", {"prefecture": COORDINATED}),
        ("changsha", "coordinator", {"prefecture": "430100"}),
        ("reminders", "reminder", {}),
    ]:
        await create_account(store.pool, name=name, password=PASSWORD, role=role, created_by="tests", **unit)
    settings = Settings(sign_in_failures=SIGN_IN_LIMIT, sign_in_window=600, state_dir=state_dir)
    if task_queue is not None:  # the queue the test's worker serves, where the console starts cohorts
        settings = settings.model_copy(update={"task_queue": task_queue})
    if configured is not None:
        settings = settings.model_copy(update=dict(configured))
    app = create_app(settings, database_url, temporal=temporal)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=BROWSER, args=FLAGS)
            yield Console(f"http://127.0.0.1:{port}", store, browser)
            await browser.close()
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def console(database_url: str, store: EventStore, tmp_path: Path) -> AsyncIterator[Console]:
    async with serving(
        database_url, store, cast(Client, object()), tmp_path
    ) as served:  # these pages ask Temporal nothing
        yield served


@pytest.fixture
async def steering_console(
    database_url: str, store: EventStore, time_skipping: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Console]:
    """The console with cohorts to steer: a time-skipping Temporal server and a worker on the test's queue."""
    async with (
        running_worker(time_skipping.client, store, task_queue, Settings(state_dir=tmp_path).uploads),
        serving(database_url, store, time_skipping.client, tmp_path, task_queue) as served,
    ):
        served.temporal, served.task_queue = time_skipping, task_queue
        yield served
