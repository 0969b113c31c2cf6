"""Bearer-token authentication and role checks as FastAPI dependencies.

Routes declare what they need, e.g.
``principal: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]``,
and a coordinator's prefecture is checked with ``check_prefecture`` once the
route knows which prefecture it acts on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cohortflow.access.roles import Permission, Principal
from cohortflow.access.tokens import authenticate
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


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency giving the authenticated principal, or 403 if its role lacks ``permission``."""

    async def permitted(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"role {principal.role} may not {permission}")
        return principal

    return permitted


def check_prefecture(principal: Principal, prefecture_code: str) -> None:
    """403 unless the principal may act on ``prefecture_code`` (coordinators: only their own)."""
    if not principal.covers(prefecture_code):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"coordinator of {principal.prefecture_scope} may not act on prefecture {prefecture_code}",
        )
