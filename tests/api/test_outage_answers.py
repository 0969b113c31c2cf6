"""With its database or the Temporal server down, the API answers 503 with Retry-After at once.

The client gives up after ``PATIENCE``: the database pool's own wait (30 s) or
the Temporal SDK's retries (about 10 s) would take longer.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.store_outage import Unreachable

PATIENCE = 5.0


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
                assert down.headers["content-type"] == "application/problem+json"
                assert "the workflow service did not answer" in down.json()["detail"]


async def test_database_down_is_answered_503_with_retry_after(
    time_skipping: WorkflowEnvironment, database_url: str, store: EventStore, unreachable: Unreachable, tmp_path: Path
) -> None:
    admin = await issue_token(store.pool, name="admin-1", role="admin", prefecture=None, issued_by="tests")
    app = create_app(Settings(state_dir=tmp_path), database_url, temporal=time_skipping.client)
    headers = {"Authorization": f"Bearer {admin.secret}"}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=PATIENCE) as http:
            assert (await http.get("/api/v1/health")).status_code == 200
            unreachable.begin()
            try:
                for path in ("/api/v1/health", "/api/v1/cohorts", "/api/v1/programmes"):
                    down = await http.get(path, headers=headers)
                    assert down.status_code == 503, (path, down.text)
                    assert down.headers["Retry-After"] == "5"
                    assert down.json()["status"] == 503 and down.json()["instance"] == path
            finally:
                unreachable.end()
            await store.pool.check()  # the test's own connections were ended with the others
            for _ in range(50):  # the app's pool reconnects in the background
                back = await http.get("/api/v1/health")
                if back.status_code == 200:
                    break
            assert back.status_code == 200, back.text
