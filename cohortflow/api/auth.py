"""Bearer-token authentication and role checks as FastAPI dependencies.

Routes declare what they need, e.g.
``principal: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]``,
and a coordinator's prefecture is checked with ``check_prefecture`` once the
route knows which prefecture it acts on. Routes that only read the database,
and do it all in one connection, take ``Depends(reading(...), scope="function")``
instead: the token is checked on the connection they then read with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cohortflow.access.roles import Permission, Principal
from cohortflow.access.tokens import authenticate
from cohortflow.readmodels.queries import Conn, read_only
from cohortflow.store.eventstore import EventStore

# auto_error=False because the built-in refusal says only "Not authenticated";
# ours says whether the token was missing or not accepted.
bearer = HTTPBearer(auto_error=False, description="A token issued with `cohortflow token issue`")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The principal behind the request's bearer token; 401 if there is none or it is not valid."""
    if credentials is None:
        raise _unauthorized("missing bearer token")
    store: EventStore = request.app.state.store
    principal = await authenticate(store.pool, credentials.credentials)
    if principal is None:
        raise _unauthorized("unknown or revoked token")
    return principal


def _forbidden(principal: Principal, permission: Permission) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=f"role {principal.role} may not {permission}")


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency giving the authenticated principal, or 403 if its role lacks ``permission``."""

    async def permitted(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise _forbidden(principal, permission)
        return principal

    return permitted


@dataclass(frozen=True)
class Reading:
    """A read-only request's one connection (autocommit) and the principal its token stands for."""

    conn: Conn
    principal: Principal


def reading(permission: Permission) -> Callable[..., AsyncIterator[Reading]]:
    """A dependency for routes that only read: one pooled connection for the token check and the reads.

    The same refusals as ``require`` (401, then 403), and the token is looked up on
    every request as there, so a revocation counts from the next request on. The
    connection is in autocommit mode (``read_only``), so neither statement pays a
    BEGIN and a COMMIT. Declare it with ``scope="function"``: the connection goes
    back to the pool when the route returns, before the answer is sent.
    """

    async def session(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> AsyncIterator[Reading]:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        store: EventStore = request.app.state.store
        async with read_only(store.pool) as conn:
            principal = await authenticate(conn, credentials.credentials)
            if principal is None:
                raise _unauthorized("unknown or revoked token")
            if not principal.can(permission):
                raise _forbidden(principal, permission)
            yield Reading(conn, principal)

    return session


def check_prefecture(principal: Principal, prefecture_code: str) -> None:
    """403 unless the principal may act on ``prefecture_code`` (coordinators: only their own)."""
    if not principal.covers(prefecture_code):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"coordinator of {principal.prefecture_scope} may not act on prefecture {prefecture_code}",
        )
