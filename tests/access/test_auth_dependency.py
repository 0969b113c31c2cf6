"""The FastAPI dependencies over a real store: 401, 403 and 200, for every role and permission."""

# No `from __future__ import annotations` here: the routes below are built in a
# loop, and FastAPI could not resolve a string annotation naming the loop variable.

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from cohortflow.access.roles import ROLES, Permission, Principal, Role
from cohortflow.access.tokens import issue_token, revoke_token
from cohortflow.api.auth import check_prefecture, current_principal, require
from cohortflow.store.eventstore import EventStore
from tests.access.units import unit_for


def build_app(store: EventStore) -> FastAPI:
    app = FastAPI()
    app.state.store = store

    for permission in Permission:

        async def route(principal: Annotated[Principal, Depends(require(permission))]) -> dict[str, str]:
            return {"actor": principal.actor}

        app.add_api_route(f"/p/{permission.value}", route, methods=["GET"])

    @app.get("/prefectures/{code}")
    async def prefecture(code: str, principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, str]:
        check_prefecture(principal, code)
        return {"prefecture": code}

    return app


@pytest.fixture
async def client(store: EventStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def secret_for(store: EventStore, role: Role) -> str:
    issued = await issue_token(store.pool, name=f"{role} one", role=role, issued_by="test", **unit_for(role, "430100"))
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_401(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert_401(await client.get("/p/cohorts:read"), "missing bearer token")
    assert_401(await client.get("/p/cohorts:read", headers={"Authorization": "Basic dTpw"}), "missing bearer token")


async def test_garbage_or_revoked_token_is_401(client: httpx.AsyncClient, store: EventStore) -> None:
    assert_401(await client.get("/p/cohorts:read", headers=bearer("garbage")), "unknown or revoked token")
    issued = await issue_token(store.pool, name="gone", role="admin", prefecture=None, issued_by="test")
    assert (await client.get("/p/cohorts:read", headers=bearer(issued.secret))).status_code == 200
    await revoke_token(store.pool, issued.token_id, revoked_by="test")
    assert_401(await client.get("/p/cohorts:read", headers=bearer(issued.secret)), "unknown or revoked token")


async def test_every_role_reaches_exactly_its_permissions(client: httpx.AsyncClient, store: EventStore) -> None:
    for role in ROLES:
        secret = await secret_for(store, role)
        who = Principal(token_id="", name="", role=role, prefecture=None)
        for permission in Permission:
            response = await client.get(f"/p/{permission.value}", headers=bearer(secret))
            if who.can(permission):
                assert response.status_code == 200, (role, permission)
                assert response.json() == {"actor": f"{role}:{role} one"}
            else:
                assert response.status_code == 403, (role, permission)
                assert response.json() == {"detail": f"role {role} may not {permission.value}"}


async def test_a_coordinator_acts_on_their_own_prefecture_only(client: httpx.AsyncClient, store: EventStore) -> None:
    coordinator = bearer(await secret_for(store, "coordinator"))
    assert (await client.get("/prefectures/430100", headers=coordinator)).status_code == 200
    refused = await client.get("/prefectures/430200", headers=coordinator)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "coordinator of 430100 may not act on prefecture 430200"}
    auditor = bearer(await secret_for(store, "auditor"))
    assert (await client.get("/prefectures/430200", headers=auditor)).status_code == 200


def test_openapi_shows_the_bearer_scheme(store: EventStore) -> None:
    schema = build_app(store).openapi()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/p/audit:read"]["get"]["security"] == [{"HTTPBearer": []}]
