"""The console's pages (``/console``): sign-in and sign-out, and the dashboard.

Each page reads through the same read models the API's routes do, scoped by the signed-in account's principal
exactly as a token's would be. Every form carries the session's form token (CSRF); the sign-in form, sent before
there is a session, carries a token that must equal a cookie set with the form (double submit). A failed sign-in
counts against the client's address with the API's own limiter, is logged with the reason, and past the limit
the address is refused for a while (429) without its password being checked.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cohortflow.access.accounts import Session, check_password, end_session, session_of, start_session
from cohortflow.api.auth import sign_in_limiter
from cohortflow.console.language import COOKIE as LANGUAGE_COOKIE
from cohortflow.console.language import chosen, gettext_for
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.queries import CohortRow, list_cohorts

SESSION_COOKIE = "cf_session"
FORM_COOKIE = "cf_form"
"""The sign-in form's double-submit token (there is no session yet to hold one)."""
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
log = structlog.get_logger("cohortflow.console")


class SignInNeeded(Exception):
    """No live session: the reader is sent to the sign-in page."""


class FormForged(Exception):
    """A form without its session's form token: not sent from this console."""


def _local(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%d %H:%M")


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = chosen(request)
    page = templates.TemplateResponse(
        request,
        template,
        {"language": language, "_": gettext_for(language), "local": _local, **context},
        status_code=status_code,
    )
    if "lang" in request.query_params:
        page.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax")
    return page


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def current_session(request: Request) -> Session:
    value = request.cookies.get(SESSION_COOKIE)
    found = None if value is None else await session_of(request.app.state.store.pool, value)
    if found is None:
        raise SignInNeeded
    return found


Signed = Annotated[Session, Depends(current_session)]


async def form_token(request: Request, session: Signed) -> Session:
    """The session of a form that carries its form token; a form without it (forged elsewhere) is refused."""
    sent = (await request.form()).get("csrf")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf):
        raise FormForged("the form did not carry this session's form token")
    return session


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/dashboard", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> HTMLResponse:
    return _sign_in(request)


def _sign_in(request: Request, problem: str | None = None, name: str = "", status_code: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    page = _page(request, "sign_in.html", status_code, csrf=token, problem=problem, name=name, principal=None)
    page.set_cookie(FORM_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/console")
    return page


@router.post("/sign-in")
async def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    _ = gettext_for(chosen(request))
    address = request.client.host if request.client is not None else "unknown"
    limiter = sign_in_limiter(request.app)
    if (wait := limiter.retry_after(address, time.monotonic())) is not None:
        if limiter.announce(address):
            log.warning("console sign-ins refused", client=address, retry_after=wait)
        problem = _("Too many failed sign-ins from your address; try again in {seconds} seconds.")
        page = _sign_in(request, problem.format(seconds=wait), name, 429)
        page.headers["Retry-After"] = str(wait)
        return page
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf, expected):
        return _sign_in(request, _("The form had expired; please sign in again."), name, 403)
    principal = await check_password(request.app.state.store.pool, name, password)
    if principal is None:
        failures = limiter.failed(address, time.monotonic())
        log.warning("console sign-in failed", client=address, account=name, failures=failures)
        return _sign_in(request, _("The account or the password is not right."), name, 401)
    settings = request.app.state.settings
    lifetime = timedelta(minutes=settings.console_session_minutes)
    value, _session = await start_session(request.app.state.store.pool, principal, lifetime)
    log.info("console sign-in", client=address, account=principal.name, role=principal.role)
    signed_in = RedirectResponse("/console/dashboard", status_code=303)
    signed_in.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/console",
    )
    signed_in.delete_cookie(FORM_COOKIE, path="/console")
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request, session: Annotated[Session, Depends(form_token)]) -> RedirectResponse:
    await end_session(request.app.state.store.pool, request.cookies[SESSION_COOKIE])
    log.info("console sign-out", account=session.principal.name)
    page = RedirectResponse("/console/sign-in", status_code=303)
    page.delete_cookie(SESSION_COOKIE, path="/console")
    return page


STAGES = ("Nominated", "Selected", "Completed", "Withdrawn")


@router.get("/dashboard")
async def dashboard(request: Request, session: Signed) -> HTMLResponse:
    principal = session.principal
    cohorts: list[CohortRow] = await list_cohorts(request.app.state.store.pool, principal.prefecture_scope)
    now = datetime.now(PROVINCE_ZONE)
    due = [c for c in cohorts if not c.completed and c.deadline is not None and now <= c.deadline <= now + timedelta(7)]
    _ = gettext_for(chosen(request))
    totals = [sum(c.nominated for c in cohorts), sum(c.selected for c in cohorts)]
    totals += [sum(c.finished for c in cohorts), sum(c.withdrawn for c in cohorts)]
    funnel = [(_(label), count) for label, count in zip(STAGES, totals, strict=True)]
    return _page(
        request, "dashboard.html", principal=principal, csrf=session.csrf, cohorts=cohorts, due=due, funnel=funnel
    )


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its pages, its static files, and its answers to a missing session (sent to
    sign in) and to a forged form (403)."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console_static")

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.method == "GET":
            return RedirectResponse("/console/sign-in", status_code=303)
        return _sign_in(request, gettext_for(chosen(request))("Your session has ended; please sign in again."), "", 401)

    @app.exception_handler(FormForged)
    async def forged(request: Request, exc: FormForged) -> Response:
        log.warning("console form refused", path=request.url.path, reason=str(exc))
        return HTMLResponse(gettext_for(chosen(request))("This form was not sent from this console."), 403)
