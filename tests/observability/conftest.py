"""The real app against a real store and the time-skipping Temporal server; logs captured as the service writes them."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import Api, api  # noqa: F401  # the whole API, worker included, for the tests that need it


@pytest.fixture
async def app(
    database_url: str, time_skipping: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The app, started (its store and projector), with no worker on its task queue."""
    found = create_app(Settings(task_queue=task_queue, state_dir=tmp_path), database_url, temporal=time_skipping.client)
    async with found.router.lifespan_context(found):
        yield found


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def admin(store: EventStore) -> dict[str, str]:
    """The headers of an administrator's request."""
    token = await issue_token(store.pool, name="admin-1", role="admin", prefecture=None, issued_by="tests")
    return {"Authorization": f"Bearer {token.secret}"}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The root logger's handlers and level as they were, after a test that configured logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line parsed as a JSON object (raising on any line that is not one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
