"""The API app factory against a real store."""

from __future__ import annotations

import pytest

from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from tests.api.conftest import Api


async def test_health_reports_the_chain_head_without_a_token(api: Api, store: EventStore) -> None:
    await store.append("s", [NewEvent("T", {"x": 1})], idempotency_key="k")
    body = (await api.http.get("/api/v1/health")).json()
    head = await store.head()
    assert body == {"status": "ok", "head_position": head.position, "head_digest": head.hash}


async def test_unknown_cohort_summary_is_404(api: Api) -> None:
    response = await api.http.get("/api/v1/cohorts/nope/summary", headers=api.as_("auditor"))
    assert response.status_code == 404
    assert response.json()["detail"] == "cohort nope does not exist"
    assert (await api.http.get("/api/v1/cohorts/nope/summary", headers=api.as_("coordinator"))).status_code == 403


def test_app_without_database_or_temporal_is_refused() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        create_app(Settings(DATABASE_URL=None))
    with pytest.raises(ValueError, match="TEMPORAL_ADDRESS"):
        create_app(Settings(DATABASE_URL="postgresql://x/y", TEMPORAL_ADDRESS=None))
