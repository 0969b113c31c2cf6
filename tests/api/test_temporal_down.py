"""With the Temporal server down, the API answers 503 with Retry-After at once, not after the SDK's retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

PATIENCE = 5.0
"""The client gives up after this; the SDK's own retries alone would take about 10 s."""


@pytest.fixture
def dev_server() -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(None, headless=True)
    yield server
    server.stop()


async def test_temporal_down_is_answered_503_with_retry_after(
    dev_server: TemporalDevServer, database_url: str, store: EventStore, tmp_path: Path
) -> None:
    admin = await issue_token(store.pool, name="admin-1", role="admin", prefecture=None, issued_by="tests")
    app = create_app(Settings(state_dir=tmp_path), database_url, temporal_address=dev_server.address)
    headers = {"Authorization": f"Bearer {admin.secret}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=PATIENCE) as http:
            before = await http.get("/api/v1/cohorts/c1/status", headers=headers)
            assert before.status_code == 404, before.text  # the server answers: no such cohort
            dev_server.stop()
            for method, path in (("GET", "/api/v1/cohorts/c1/status"), ("GET", "/api/v1/cohorts/stalled")):
                down = await http.request(method, path, headers=headers)
                assert down.status_code == 503, (path, down.text)
                assert down.headers["Retry-After"] == "5"
                assert "the workflow service did not answer" in down.json()["detail"]
