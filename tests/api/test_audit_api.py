"""Audit endpoints against a real store holding a cohort decided by the real activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.cycle_records import RecordCohortStarted
from cohortflow.activities.selection import SelectParticipants
from cohortflow.api.app import create_app
from cohortflow.demo.feeding import import_in
from cohortflow.demo.phase_feed import nominees, online_study
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

REF = CohortRef(cohort_id="c9", workflow_id="cohort-c9")


@pytest.fixture
async def api(
    database_url: str, store: EventStore, time_skipping: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    start = RecordCohortStarted(
        ref=REF, programme=sample_programme(300, 40), started_at=datetime(2026, 3, 1, tzinfo=UTC), day_seconds=86400
    )
    await env.run(acts.record_cohort_started, start)
    await import_in(env, acts, REF, nominees(start.programme, seed=4))
    for file in online_study(list((await cohort_facts(store, REF.cohort_id)).participants.values()), seed=4):
        await import_in(env, acts, REF, file)
    await env.run(acts.select_participants, SelectParticipants(ref=REF))
    token = await issue_token(store.pool, name="wang", role="auditor", prefecture=None, issued_by="tests")
    app = create_app(Settings(), database_url, temporal=time_skipping.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token.secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            yield client


async def test_digest_verify_and_replay_are_answered_and_recorded(api: httpx.AsyncClient, store: EventStore) -> None:
    digest = (await api.get("/api/v1/audit/digest")).json()
    assert digest["position"] == 1883 and len(digest["hash"]) == 64
    verified = (await api.post("/api/v1/audit/verify", json=digest)).json()
    assert verified["ok"] is True and verified["checked"] == 1884  # the digest query itself is recorded too
    cohort = (await api.post("/api/v1/audit/verify", params={"cohort": "c9"})).json()
    assert cohort["ok"] is True and cohort["checked"] == 1883
    replay = (await api.get("/api/v1/audit/cohorts/c9/selection-replay")).json()
    assert replay["identical"] is True and replay["selected_replayed"] == 40
    now = datetime.now(UTC).isoformat()
    person = (await api.get("/api/v1/audit/cohorts/c9/as-of", params={"at": now, "participant": "P000001"})).json()
    assert person["participant_id"] == "P000001" and person["selection"] in ("selected", "waiting list", "not selected")
    whole = (await api.get("/api/v1/audit/cohorts/c9/as-of", params={"at": now})).json()
    assert whole["funnel"]["nominated"] == 300 and whole["funnel"]["selected"] == 40
    asked = [(e.data["query"], e.metadata["actor"]) async for e in store.read_stream("audit")]
    assert asked == [(q, "auditor:wang") for q in ("digest", "verify", "verify", "selection", "as-of", "as-of")]


async def test_bad_audit_questions_get_4xx_and_write_nothing(api: httpx.AsyncClient, store: EventStore) -> None:
    before = (await store.head()).position
    foreign = {
        "store_id": "x",
        "position": 1,
        "hash": "0" * 64,
        "recorded_at": None,
        "exported_at": "2030-01-01T00:00:00Z",
    }
    refused = await api.post("/api/v1/audit/verify", json=foreign)
    assert refused.status_code == 422 and "exported from store x" in refused.json()["detail"]
    assert (await api.post("/api/v1/audit/verify", params={"cohort": "nope"})).status_code == 404
    assert (await api.get("/api/v1/audit/cohorts/nope/selection-replay")).status_code == 404
    naive = await api.get("/api/v1/audit/cohorts/c9/as-of", params={"at": "2030-01-01T00:00:00"})
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    early = await api.get("/api/v1/audit/cohorts/c9/as-of", params={"at": "2001-01-01T00:00:00+08:00"})
    assert early.status_code == 404 and "did not exist yet" in early.json()["detail"]
    unknown = await api.get(
        "/api/v1/audit/cohorts/c9/as-of", params={"at": "2030-01-01T00:00:00+08:00", "participant": "P999999"}
    )
    assert unknown.status_code == 404
    soon = await api.get("/api/v1/audit/cohorts/c9/as-of", params={"at": "soon"})
    assert soon.status_code == 400 and soon.json()["detail"].startswith("query parameter at is not valid: "), soon.text
    assert (await store.head()).position == before
