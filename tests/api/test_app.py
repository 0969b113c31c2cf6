"""The API app factory against a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_health_reports_the_chain_head(api: httpx.AsyncClient, store: EventStore) -> None:
    await store.append("s", [NewEvent("T", {"x": 1})], idempotency_key="k")
    body = (await api.get("/api/v1/health")).json()
    head = await store.head()
    assert body == {"status": "ok", "head_position": 1, "head_digest": head.hash}


async def test_unknown_cohort_summary_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/cohorts/nope/summary")
    assert response.status_code == 404
    assert response.json()["detail"] == "cohort nope does not exist"


def test_app_without_database_is_refused() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        create_app(Settings(DATABASE_URL=None))
