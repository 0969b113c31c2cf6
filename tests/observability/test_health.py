"""Liveness answers while the process does; readiness checks PostgreSQL, Temporal and a worker on the task queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cohortflow.api.app import create_app
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import build_worker, connect_client
from tests.store_outage import Unreachable


@pytest.fixture
async def served(
    dev_server: TemporalDevServer, database_url: str, task_queue: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app against a real Temporal server (which describes task queues) and no worker yet."""
    app = create_app(
        Settings(task_queue=task_queue, state_dir=tmp_path), database_url, temporal_address=dev_server.address
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
            yield http


async def test_ready_once_a_worker_polls_and_not_before(
    served: httpx.AsyncClient, dev_server: TemporalDevServer, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    alone = await served.get("/api/v1/health/ready")
    assert alone.status_code == 503, alone.text
    assert alone.json()["status"] == "not ready" and alone.json()["failed"] == ["worker"]
    assert alone.json()["checks"]["postgres"] == "ok" and alone.json()["checks"]["temporal"] == "ok"
    assert task_queue in alone.json()["checks"]["worker"]

    async with build_worker(await connect_client(dev_server.address), store, task_queue, tmp_path):
        for _ in range(100):  # the worker's first poll reaches the server within moments
            answer = await served.get("/api/v1/health/ready")
            if answer.status_code == 200:
                break
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "status": "ready",
            "checks": {"postgres": "ok", "temporal": "ok", "worker": "ok"},
            "failed": [],
        }


async def test_temporal_down_is_named(served: httpx.AsyncClient, dev_server: TemporalDevServer) -> None:
    dev_server.stop()
    down = await served.get("/api/v1/health/ready")
    assert down.status_code == 503
    assert down.json()["failed"] == ["temporal", "worker"], down.text
    assert (await served.get("/api/v1/health/live")).json() == {"status": "ok"}


async def test_the_database_down_is_named_and_liveness_still_answers(
    http: httpx.AsyncClient, unreachable: Unreachable
) -> None:
    before = await http.get("/api/v1/health/ready")
    # The time-skipping server cannot describe task queues: the worker is not checked, and that fails nothing.
    assert before.status_code == 200, before.text
    assert before.json()["checks"]["worker"].startswith("not checked")
    unreachable.begin()
    try:
        down = await http.get("/api/v1/health/ready")
        live = await http.get("/api/v1/health/live")
    finally:
        unreachable.end()
    assert down.status_code == 503 and down.json()["failed"] == ["postgres"], down.text
    assert live.status_code == 200 and live.json() == {"status": "ok"}


async def test_the_health_route_answers_as_before(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok" and answer.json()["head_position"] >= 0
