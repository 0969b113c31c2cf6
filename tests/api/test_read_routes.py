"""The busiest read routes served by the real app over a real, projected store (reads never use Temporal).

The funnel and the timeline answer with JSON they serialise themselves and check
the token on the connection they read with: the answers must be what the models
say, a revoked token must be refused from the next request on (even where the
answer itself is cached), and each request must borrow one connection only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from cohortflow.access.tokens import issue_token, revoke_token
from cohortflow.api.app import create_app
from cohortflow.domain.national_id import mask
from cohortflow.readmodels.projector import Projector
from cohortflow.readmodels.queries import Funnel, cohort_funnel, iter_people
from cohortflow.readmodels.timeline import Timeline, participant_timeline
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.readmodels import write_cohort

CHANGSHA = "430100"


@dataclass
class Served:
    http: httpx.AsyncClient
    store: EventStore
    pool: AsyncConnectionPool[Any]
    """The app's own pool."""
    tokens: dict[str, str]
    token_ids: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def served(database_url: str, store: EventStore) -> AsyncIterator[Served]:
    await write_cohort(store, "r", seed=41, until="online_study")
    await Projector(store).catch_up()
    issued = {
        role: await issue_token(
            store.pool,
            name=f"{role}-1",
            role=role,
            prefecture=CHANGSHA if role == "coordinator" else None,
            issued_by="tests",
        )
        for role in ("admin", "coordinator", "auditor", "reminder")
    }
    app = create_app(Settings(projection_interval=3600.0), database_url, temporal=cast(Client, object()))
    async with app.router.lifespan_context(app):
        for _ in range(600):
            if app.state.projected_to >= 0:
                break
            await asyncio.sleep(0.05)  # the projector's first pass
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Served(
                http,
                store,
                app.state.store.pool,
                {role: t.secret for role, t in issued.items()},
                {role: t.token_id for role, t in issued.items()},
            )


async def test_funnel_and_timeline_answer_what_the_models_say(served: Served) -> None:
    for _ in range(2):  # the second funnel comes from the app's cache
        answer = await served.http.get("/api/v1/cohorts/r/funnel", headers=served.as_("auditor"))
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert Funnel.model_validate_json(answer.content) == await cohort_funnel(served.store.pool, "r")
    scoped = await served.http.get("/api/v1/cohorts/r/funnel", headers=served.as_("coordinator"))
    assert Funnel.model_validate_json(scoped.content) == await cohort_funnel(served.store.pool, "r", CHANGSHA)

    path = "/api/v1/cohorts/r/participants/P000001/timeline"
    shown = await served.http.get(path, headers=served.as_("auditor"))
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/json"
    expected = await participant_timeline(served.store, "r", "P000001")
    assert Timeline.model_validate_json(shown.content) == expected
    assert shown.content == expected.model_dump_json().encode()  # compact, UTF-8, as FastAPI sends a model
    assert (await served.http.get(path, headers=served.as_("admin"))).content == shown.content

    local, *_ = [p async for p in iter_people(served.store.pool, "r", "nominees", CHANGSHA)]
    path = f"/api/v1/cohorts/r/participants/{local.participant_id}/timeline"
    theirs = Timeline.model_validate_json((await served.http.get(path, headers=served.as_("coordinator"))).content)
    nomination = theirs.entries[0]
    assert nomination.type == "CandidateNominated" and nomination.data["national_id"] == mask(local.national_id)
    unknown = await served.http.get("/api/v1/cohorts/r/participants/P999999/timeline", headers=served.as_("admin"))
    assert unknown.status_code == 404 and "P999999" in unknown.json()["detail"]
    assert (await served.http.get("/api/v1/cohorts/nope/funnel", headers=served.as_("admin"))).status_code == 404


async def test_person_keys_are_shown_only_to_roles_that_see_whole_id_numbers(served: Served) -> None:
    # A person key is a fixed function of the whole number: next to a masked number it would give the rest away.
    await write_cohort(served.store, "k", seed=43, candidates=60, selected=20)
    await Projector(served.store).catch_up()
    completed = [p async for p in iter_people(served.store.pool, "k", "completed", CHANGSHA)]
    person = next(p for p in completed if p.credit_hours > 0)
    key = person.person_key
    assert key is not None
    path = f"/api/v1/cohorts/k/participants/{person.participant_id}"
    for role, sees in (("admin", True), ("auditor", True), ("coordinator", False), ("reminder", False)):
        answers = [
            await served.http.get(path + tail, headers=served.as_(role)) for tail in ("", "/credits", "/timeline")
        ]
        assert [a.status_code for a in answers] == [200, 200, 200], role
        shown, statement, timeline = (a.json() for a in answers)
        expected = key if sees else None
        assert shown["person_key"] == expected and statement["person_key"] == expected, role
        assert statement["entries"] and statement["total_hours"] == person.credit_hours  # still their statement
        keyed = [e for e in timeline["entries"] if "person_key" in e["data"]]
        assert {e["type"] for e in keyed} >= {"CandidateNominated", "CreditAwarded"}, role
        assert all(e["data"]["person_key"] == expected for e in keyed), role
        assert all((key in a.text) is sees for a in answers), role
        nominated = next(e for e in keyed if e["type"] == "CandidateNominated")
        assert nominated["data"]["national_id"] == (person.national_id if sees else mask(person.national_id))


def unauthorized(path: str, detail: str) -> dict[str, object]:
    return {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": detail, "instance": path}


async def test_a_revoked_token_is_refused_from_the_next_read_on(served: Served) -> None:
    funnel, timeline = "/api/v1/cohorts/r/funnel", "/api/v1/cohorts/r/participants/P000001/timeline"
    for path in (funnel, timeline):
        assert (await served.http.get(path, headers=served.as_("auditor"))).status_code == 200
    await revoke_token(served.store.pool, served.token_ids["auditor"], revoked_by="tests")
    for path in (funnel, timeline, "/api/v1/cohorts"):
        refused = await served.http.get(path, headers=served.as_("auditor"))
        assert refused.status_code == 401 and refused.json() == unauthorized(path, "unknown or revoked token")
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    missing = await served.http.get(funnel)
    assert missing.status_code == 401 and missing.json() == unauthorized(funnel, "missing bearer token")


async def test_each_read_borrows_one_connection_and_returns_it_as_it_was(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    borrowed: list[Any] = []
    getconn = served.pool.getconn

    async def counting(timeout: float | None = None) -> Any:
        conn = await getconn(timeout)
        borrowed.append(conn)
        return conn

    monkeypatch.setattr(served.pool, "getconn", counting)
    paths = (
        "/api/v1/cohorts",
        "/api/v1/cohorts/r/funnel",
        "/api/v1/cohorts/r/participants/P000001",
        "/api/v1/cohorts/r/participants/P000001/timeline",
        "/api/v1/cohorts/r/participants/P999999/timeline",  # refused with 404 after the token check
    )
    for path in paths:
        borrowed.clear()
        await served.http.get(path, headers=served.as_("coordinator"))
        assert len(borrowed) == 1, path
        assert not borrowed[0].autocommit, path


async def test_the_cohort_routes_are_matched_first_and_documented_in_declared_order() -> None:
    app = create_app(Settings(), "postgresql://nowhere/none", temporal=cast(Client, object()))
    paths = list(app.openapi()["paths"])
    assert paths[:2] == ["/api/v1/programmes/validate", "/api/v1/programmes"]
    assert paths.index("/api/v1/cohorts/{cohort_id}/status") < paths.index("/api/v1/cohorts/{cohort_id}/funnel")
    assert paths[-1] == "/api/v1/cohorts/{cohort_id}/summary"
    assert app.openapi() is app.openapi()  # built once, as FastAPI keeps it
    assert getattr(app.router.routes[0], "path", None) is None  # an included router, not the documentation's
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        # The cohort commands still come before the reads: the first route of a path decides a 405's Allow.
        refused = await http.put("/api/v1/cohorts")
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"
        assert (await http.get("/api/v1/programmes")).status_code == 401
        assert (await http.get("/docs")).status_code == 200
