"""Signing in and out of the console.

The sign-in form, sent before there is a session, carries a token that must equal a cookie set with the form
(double submit). A failed sign-in counts against the client's address with the API's own limiter and is logged
with the reason; past the limit the address is refused for a while (429) without its password being checked.
When the province's identity provider is configured, the page also offers signing in through it (``oidc``).
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cohortflow.access.accounts import check_password, end_session, start_session
from cohortflow.api.auth import sign_in_limiter
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import SESSION_COOKIE, FormSession

FORM_COOKIE = "cf_form"
"""The sign-in form's double-submit token (there is no session yet to hold one)."""
router = APIRouter(prefix="/console", include_in_schema=False)
log = structlog.get_logger("cohortflow.console")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def session_lifetime(request: Request) -> timedelta:
    return timedelta(minutes=request.app.state.settings.console_session_minutes)


def sign_in_form(request: Request, problem: str | None = None, name: str = "", status_code: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    settings = request.app.state.settings
    answer = page(
        request,
        "sign_in.html",
        status_code,
        csrf=token,
        problem=problem,
        name=name,
        oidc=settings.oidc_issuer is not None,
        oidc_name=settings.oidc_display_name,
    )
    answer.set_cookie(FORM_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/console")
    return answer


@router.get("/sign-in")
async def sign_in_page(request: Request) -> HTMLResponse:
    return sign_in_form(request)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    address = client_address(request)
    limiter = sign_in_limiter(request.app)
    if (wait := limiter.retry_after(address, time.monotonic())) is not None:
        if limiter.announce(address):
            log.warning("console sign-ins refused", client=address, retry_after=wait)
        problem = say(request, "Too many failed sign-ins from your address; try again in {seconds} seconds.")
        refused = sign_in_form(request, problem.format(seconds=wait), name, 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf, expected):
        return sign_in_form(request, say(request, "The form had expired; please sign in again."), name, 403)
    principal = await check_password(request.app.state.store.pool, name, password)
    if principal is None:
        failures = limiter.failed(address, time.monotonic())
        log.warning("console sign-in failed", client=address, account=name, failures=failures)
        return sign_in_form(request, say(request, "The account or the password is not right."), name, 401)
    value, _session = await start_session(request.app.state.store.pool, principal, session_lifetime(request))
    log.info("console sign-in", client=address, account=principal.name, role=principal.role, by="password")
    return signed_in(request, value)


def signed_in(request: Request, value: str) -> RedirectResponse:
    """To the dashboard, with the new session's cookie (however the account signed in)."""
    answer = RedirectResponse("/console/dashboard", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(session_lifetime(request).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/console",
    )
    answer.delete_cookie(FORM_COOKIE, path="/console")
    return answer


@router.post("/sign-out")
async def sign_out(request: Request, session: FormSession) -> RedirectResponse:
    await end_session(request.app.state.store.pool, request.cookies[SESSION_COOKIE])
    log.info("console sign-out", account=session.principal.name)
    signed_out = RedirectResponse("/console/sign-in", status_code=303)
    signed_out.delete_cookie(SESSION_COOKIE, path="/console")
    return signed_out
