"""Failed sign-ins are logged one line each and, past a limit per client address, refused with 429 for a while.

The real app over a real store (its routes that need no Temporal), with a limit
of a few failures per second-long window so that the lockout passes quickly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import structlog
from fastapi import FastAPI
from temporalio.client import Client

from cohortflow.access import tokens
from cohortflow.access.sign_ins import PRUNE_AT, SignInLimiter
from cohortflow.access.tokens import issue_token, revoke_token
from cohortflow.api import auth
from cohortflow.api.app import create_app
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

LIMIT = 3
WINDOW = 1.0
HERE, THERE = "10.0.0.1", "10.0.0.2"
PROGRAMMES = "/api/v1/programmes"  # a route checking its token with ``require``
COHORTS = "/api/v1/cohorts"  # one checking it with ``reading``, on the connection it reads with


@dataclass
class Served:
    app: FastAPI
    store: EventStore
    admin: str
    admin_id: str

    @asynccontextmanager
    async def client(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
async def served(database_url: str, store: EventStore) -> AsyncIterator[Served]:
    settings = Settings(sign_in_failures=LIMIT, sign_in_window=WINDOW)
    app = create_app(settings, database_url, temporal=cast(Client, object()))  # these routes never ask Temporal
    issued = await issue_token(store.pool, name="li", role="admin", prefecture=None, issued_by="tests")
    async with app.router.lifespan_context(app):
        yield Served(app, store, issued.secret, issued.token_id)


@pytest.fixture
def logged() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as records:
        yield records


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def sign_ins(records: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [r for r in records if r["event"] in ("sign-in failed", "sign-ins refused")]


async def test_every_failed_sign_in_is_one_log_line_with_address_route_and_reason(
    served: Served, logged: list[MutableMapping[str, Any]]
) -> None:
    revoked = await issue_token(served.store.pool, name="gone", role="auditor", prefecture=None, issued_by="tests")
    await revoke_token(served.store.pool, revoked.token_id, revoked_by="tests")
    unknown = "cf_0123456789abcdef_" + "A" * 43
    attempts = [
        (PROGRAMMES, {}, "missing", None, "missing bearer token"),
        (COHORTS, bearer("not-a-token"), "malformed", None, "unknown or revoked token"),
        (PROGRAMMES, bearer(unknown), "unknown", "0123456789abcdef", "unknown or revoked token"),
        (COHORTS, bearer(revoked.secret), "revoked", revoked.token_id, "unknown or revoked token"),
    ]
    routes = {PROGRAMMES: "/api/v1/programmes", COHORTS: "/api/v1/cohorts"}
    for (path, headers, *_), address in zip(attempts, ("10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"), strict=True):
        async with served.client(address) as http:
            answer = await http.get(path, headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    lines = sign_ins(logged)
    assert len(lines) == len(attempts)
    for line, (path, _, reason, token_id, _detail), address in zip(
        lines, attempts, ("10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"), strict=True
    ):
        assert line["event"] == "sign-in failed" and line["log_level"] == "warning"
        assert line["client"] == address and line["route"] == routes[path] and line["method"] == "GET"
        assert line["reason"] == reason and line["token_id"] == token_id
        assert line["failures_in_window"] == 1
    text = repr(logged)
    assert unknown not in text and revoked.secret not in text and "not-a-token" not in text


async def test_the_route_is_logged_as_declared_not_as_requested(
    served: Served, logged: list[MutableMapping[str, Any]]
) -> None:
    async with served.client(HERE) as http:
        assert (await http.get("/api/v1/cohorts/c1/participants/P000001")).status_code == 401
    (line,) = sign_ins(logged)
    assert line["route"] == "/api/v1/cohorts/{cohort_id}/participants/{participant_id}"


async def test_too_many_failures_from_one_address_are_answered_429_unlooked_until_the_window_passes(
    served: Served, logged: list[MutableMapping[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    check = tokens.check_secret

    async def counting(source: Any, secret: str) -> Any:
        looked_up.append(secret)
        return await check(source, secret)

    monkeypatch.setattr(auth, "check_secret", counting)
    async with served.client(HERE) as here, served.client(THERE) as there:
        for _ in range(LIMIT):
            assert (await here.get(PROGRAMMES, headers=bearer("cf_wrong"))).status_code == 401
        last = time.monotonic()  # every failure was counted before this
        assert (await there.get(COHORTS, headers=bearer(served.admin))).status_code == 200  # resets nothing here
        looked_up.clear()
        for path, headers in ((PROGRAMMES, bearer(served.admin)), (COHORTS, bearer(served.admin)), (COHORTS, {})):
            refused = await here.get(path, headers=headers)
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "1"  # whole seconds, rounded up
            assert "too many failed sign-ins" in refused.json()["detail"]
        assert looked_up == []  # not even a valid token is looked up meanwhile
        assert (await there.get(PROGRAMMES, headers=bearer(served.admin))).status_code == 200  # another address
        lockouts = [r for r in logged if r["event"] == "sign-ins refused"]
        assert len(lockouts) == 1  # three refusals, one line
        assert lockouts[0]["client"] == HERE and lockouts[0]["retry_after"] == 1 and lockouts[0]["limit"] == LIMIT
        assert [r["failures_in_window"] for r in logged if r["event"] == "sign-in failed"] == [1, 2, 3]

        await asyncio.sleep(max(0.0, last + WINDOW - time.monotonic()))  # (the window's sliding: unit-tested below)
        assert (await here.get(PROGRAMMES, headers=bearer(served.admin))).status_code == 200


async def test_a_client_signing_in_between_guesses_keeps_its_count(served: Served) -> None:
    async with served.client(HERE) as http:
        for _ in range(LIMIT):
            assert (await http.get(PROGRAMMES, headers=bearer(served.admin))).status_code == 200
            assert (await http.get(PROGRAMMES, headers=bearer("cf_guess"))).status_code == 401
        assert (await http.get(PROGRAMMES, headers=bearer(served.admin))).status_code == 429


async def test_a_refused_role_and_a_public_route_count_no_failure(served: Served) -> None:
    coordinator = await issue_token(
        served.store.pool, name="c", role="coordinator", prefecture="430100", issued_by="tests"
    )
    async with served.client(HERE) as http:
        for _ in range(LIMIT + 1):
            assert (await http.get("/api/v1/reminders/failures", headers=bearer(coordinator.secret))).status_code == 403
            assert (await http.get("/api/v1/health")).status_code == 200
        assert (await http.get(PROGRAMMES, headers=bearer(served.admin))).status_code == 200


def test_the_limiter_counts_within_a_sliding_window() -> None:
    limiter = SignInLimiter(limit=2, window=10.0)
    assert limiter.retry_after("a", 0.0) is None
    assert limiter.failed("a", 0.0) == 1
    assert limiter.failed("a", 4.0) == 2
    assert limiter.retry_after("a", 4.0) == 6
    assert limiter.retry_after("a", 9.5) == 1
    assert limiter.retry_after("a", 10.0) is None  # the first failure has left the window
    assert limiter.retry_after("b", 5.0) is None
    assert limiter.announce("a") and not limiter.announce("a")
    assert limiter.failed("a", 10.0) == 2  # the one at 4.0 and this one
    assert limiter.retry_after("a", 10.0) == 4
    assert limiter.announce("a")  # a new lockout is news again
    with pytest.raises(ValueError):
        SignInLimiter(limit=0, window=1.0)


def test_the_limiter_forgets_quiet_addresses_when_it_tracks_many() -> None:
    limiter = SignInLimiter(limit=1, window=1.0)
    for n in range(PRUNE_AT):
        limiter.failed(f"10.9.{n // 256}.{n % 256}", 0.0)
    limiter.failed("10.8.0.1", 5.0)
    assert limiter.retry_after("10.9.0.1", 0.5) is None  # forgotten: it had nothing left in its window
    assert limiter.retry_after("10.8.0.1", 5.5) == 1


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_SIGN_IN_FAILURES", "5")
    monkeypatch.setenv("COHORTFLOW_SIGN_IN_WINDOW", "30")
    settings = Settings()
    assert (settings.sign_in_failures, settings.sign_in_window) == (5, 30.0)
    assert (Settings.model_fields["sign_in_failures"].default, Settings.model_fields["sign_in_window"].default) == (
        10,
        60.0,
    )
