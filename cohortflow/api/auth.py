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

Each route states what it needs through these dependencies alone, and the OpenAPI
document shows it (``x-permission`` on every operation, ``document_permissions``);
a route open to all states that too, with ``public``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import FunctionType
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from cohortflow.access.roles import Permission, Principal
from cohortflow.access.sign_ins import SignInLimiter
from cohortflow.access.tokens import Pool, Refused, check_secret
from cohortflow.api.problems import answer
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.queries import Conn, read_only
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

# auto_error=False because the built-in refusal says only "Not authenticated";
# ours says whether the token was missing or not accepted.
bearer = HTTPBearer(auto_error=False, description="A token issued with `cohortflow token issue`")
MISSING = phrase("missing bearer token")
PUBLIC = "public"
PERMISSION_KEY = "x-permission"
_declared: WeakKeyDictionary[Callable[..., object], str] = WeakKeyDictionary()
"""The permission each ``require``/``reading`` dependency checks (``public`` for ``public``), for the document."""
REFUSED = phrase("unknown or revoked token")  # the caller is not told which: the log is


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
            detail=phrase("too many failed sign-ins from this address; try again in {wait} s", wait=wait),
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
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        detail=phrase("role {role} may not {permission}", role=principal.role, permission=permission),
    )


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency giving the authenticated principal, or 403 if its role lacks ``permission``."""

    async def permitted(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise _forbidden(principal, permission)
        return principal

    _declared[permitted] = permission.value
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

    _declared[session] = permission.value
    return session


def public() -> None:
    """Declares a route open to anyone, with a token or without: ``dependencies=[Depends(public)]``.

    It checks nothing; it is there so that a route states that it is public as the others state
    their permission, and a route that states neither is seen to (``document_permissions``).
    """


_declared[public] = PUBLIC


def declared_permissions(dependant: Dependant) -> list[str]:
    """What a route's dependencies (at any depth) state it needs: permissions, or ``public``."""
    found: set[str] = set()
    pending = [dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, FunctionType) and dependant.call in _declared:
            found.add(_declared[dependant.call])
        pending.extend(dependant.dependencies)
    return sorted(found)


REFUSALS = (401, 403, 429)
"""What every operation that needs a token may answer besides what it does."""


def document_permissions(document: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Write into the OpenAPI ``document`` what each operation needs, as ``x-permission``, and how it refuses.

    The permission is read from the route's dependency tree, from the very ``require``,
    ``reading`` or ``public`` dependency that enforces it, so the document cannot say one
    thing and the route do another. (``openapi_extra`` on each route would state it a second
    time, by hand, and could drift; FastAPI's ``Security`` scopes would add OAuth2 scopes to
    a bearer scheme that has none.) An operation whose route states nothing gets no
    ``x-permission``, which the generated authorisation test refuses.
    """
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for route in iter_route_contexts(list(routes)):  # as get_openapi walks them, included routers too
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        permissions = declared_permissions(route.dependant)
        if not permissions:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format or "", {}).get(method.lower())
            if operation is None:
                continue
            operation[PERMISSION_KEY] = permissions[0] if len(permissions) == 1 else permissions
            if PUBLIC not in permissions:
                responses: dict[str, Any] = operation.setdefault("responses", {})
                for status_code in REFUSALS:
                    responses.setdefault(str(status_code), answer(status_code))


def check_prefecture(principal: Principal, prefecture_code: str) -> None:
    """403 unless the principal may act on ``prefecture_code`` (coordinators: only their own)."""
    if not principal.covers(prefecture_code):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=phrase(
                "coordinator of {scope} may not act on prefecture {prefecture_code}",
                scope=principal.prefecture_scope,
                prefecture_code=prefecture_code,
            ),
        )
