"""The console mounted on the API's app: its routers, its static files, and its answers to a missing session
(sent to sign in), a role without the page's permission (403) and a forged form (403)."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cohortflow.console import (
    accounts,
    audit,
    audit_states,
    bank_imports,
    behind,
    cohorts,
    dashboard,
    imports,
    participants,
    people,
    programmes,
    reminders,
    sign_in,
    start_cohort,
)
from cohortflow.console.rendering import HERE, page, say
from cohortflow.console.sessions import FormForged, NotAllowed, SignInNeeded

log = structlog.get_logger("cohortflow.console")


def install(app: FastAPI) -> None:
    for module in (
        sign_in,
        dashboard,
        behind,
        cohorts,
        participants,
        imports,
        people,
        programmes,
        start_cohort,
        accounts,
        reminders,
        audit,
        audit_states,
        bank_imports,
    ):
        app.include_router(module.router)
    if app.state.settings.oidc_issuer is not None:  # Authlib is loaded only where the provider is configured
        from cohortflow.console.oidc import install as install_oidc

        install_oidc(app, app.state.settings)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console_static")

    @app.get("/console", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/dashboard", status_code=303)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.method == "GET":
            return RedirectResponse("/console/sign-in", status_code=303)
        ended = say(request, "Your session has ended; please sign in again.")
        return sign_in.sign_in_form(request, ended, "", 401)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return page(request, "message.html", 403, message=say(request, "Your role may not see this page."))

    @app.exception_handler(FormForged)
    async def forged(request: Request, exc: FormForged) -> Response:
        log.warning("console form refused", path=request.url.path, reason=str(exc))
        return HTMLResponse(say(request, "This form was not sent from this console."), 403)
