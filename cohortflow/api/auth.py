"""Bearer-token authentication and role checks as FastAPI dependencies.

Routes declare what they need, e.g.
``principal: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]``,
and a coordinator's prefecture is checked with ``check_prefecture`` once the
route knows which prefecture it acts on. Routes that only read the database,
and do it all in one connection, take ``Depends(reading(...), scope="function")``
instead: the token is checked on the connection they then read with.

Every failed sign-in (no token, a malformed, unknown or revoked one) is logged as
one line naming the client's address, the route and the reason, and counted
against the address; an address with too many failures in a window is answered
429 with ``Retry-After``, its tokens not looked up, until the window has passed
(``cohortflow.access.sign_ins``; ``COHORTFLOW_SIGN_IN_FAILURES`` per
``COHORTFLOW_SIGN_IN_WINDOW`` seconds).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cohortflow.access.roles import Permission, Principal
from cohortflow.access.sign_ins import SignInLimiter
from cohortflow.access.tokens import Pool, Refused, check_secret
from cohortflow.readmodels.queries import Conn, read_only
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

# auto_error=False because the built-in refusal says only "Not authenticated";
# ours says whether the token was missing or not accepted.
bearer = HTTPBearer(auto_error=False, description="A token issued with `cohortflow token issue`")
MISSING = "missing bearer token"
REFUSED = "unknown or revoked token"  # the caller is not told which: the log is


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def sign_in_limiter(app: FastAPI) -> SignInLimiter:
    """The app's count of failed sign-ins, made on first use from its settings (the defaults if it has none)."""
    limiter: SignInLimiter | None = getattr(app.state, "sign_ins", None)
    if limiter is None:
        settings: Settings = getattr(app.state, "settings", None) or Settings()
        limiter = app.state.sign_ins = SignInLimiter(settings.sign_in_failures, settings.sign_in_window)
    return limiter


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _sign_in_log(request: Request) -> structlog.typing.FilteringBoundLogger:
    # The route's template, not the path: the path may name people (participant ids), the template names none.
    route = getattr(request.scope.get("route"), "path", None)
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("cohortflow.api.auth")
    return logger.bind(client=_client(request), method=request.method, route=route)


def _admitted(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer secret to look up; 429 while the client's address is refused for its failures, 401 if none."""
    limiter = sign_in_limiter(request.app)
    address = _client(request)
    wait = limiter.retry_after(address, time.monotonic())
    if wait is not None:
        if limiter.announce(address):
            _sign_in_log(request).warning(
                "sign-ins refused",
                reason="too many failures",
                limit=limiter.limit,
                window=limiter.window,
                retry_after=wait,
            )
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed sign-ins from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    if credentials is None:
        raise _failed(request, "missing", None)
    return credentials.credentials


def _failed(request: Request, reason: str, token_id: str | None) -> HTTPException:
    """Count and log a failed sign-in (the secret itself never: at most the public id it names); the 401 to raise."""
    failures = sign_in_limiter(request.app).failed(_client(request), time.monotonic())
    _sign_in_log(request).warning("sign-in failed", reason=reason, token_id=token_id, failures_in_window=failures)
    return _unauthorized(MISSING if reason == "missing" else REFUSED)


async def _signed_in(request: Request, secret: str, source: Pool | Conn) -> Principal:
    found = await check_secret(source, secret)
    if isinstance(found, Refused):
        raise _failed(request, found.reason, found.token_id)
    return found


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The principal behind the request's bearer token; 401 if there is none or it is not valid, 429 (see above)."""
    secret = _admitted(request, credentials)
    store: EventStore = request.app.state.store
    return await _signed_in(request, secret, store.pool)


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
        secret = _admitted(request, credentials)  # before a connection is taken: a refusal needs none
        store: EventStore = request.app.state.store
        async with read_only(store.pool) as conn:
            principal = await _signed_in(request, secret, conn)
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
