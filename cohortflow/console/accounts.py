"""Accounts, for administrators: every account with its role and unit, a form creating one for any role (the
same checks as ``cohortflow account create``), and disabling one, which ends its sessions at once."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session, create_account, disable_account, list_accounts
from cohortflow.access.roles import ROLES, Permission
from cohortflow.access.tokens import TokenRefused
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token

router = APIRouter(prefix="/console", include_in_schema=False)
Manager = Annotated[Session, allowed(Permission.ACCOUNTS_MANAGE)]
Text = Annotated[str, Form(max_length=300)]
log = structlog.get_logger("cohortflow.console")


async def _shown(request: Request, session: Session, status_code: int = 200, **more: object) -> HTMLResponse:
    accounts = await list_accounts(request.app.state.store.pool)
    return page(
        request,
        "accounts.html",
        status_code,
        principal=session.principal,
        csrf=session.csrf,
        accounts=accounts,
        roles=ROLES,
        **more,
    )


@router.get("/accounts")
async def accounts_page(request: Request, session: Manager) -> HTMLResponse:
    return await _shown(request, session)


@router.post("/accounts")
async def create(
    request: Request,
    session: Manager,
    name: Text = "",
    role: Text = "",
    prefecture: Text = "",
    county: Text = "",
    school: Text = "",
    password: Text = "",
    again: Text = "",
) -> HTMLResponse:
    await form_token(request, session)
    sent = {"name": name, "role": role, "prefecture": prefecture, "county": county, "school": school}
    if password != again:
        return await _shown(request, session, 422, problem=say(request, "The two passwords differ."), sent=sent)
    try:
        created = await create_account(
            request.app.state.store.pool,
            name=name,
            password=password,
            role=role,
            prefecture=prefecture.strip() or None,
            county=county.strip() or None,
            school=school.strip() or None,
            created_by=session.principal.actor,
        )
    except TokenRefused as exc:
        return await _shown(request, session, 422, problem=str(exc), sent=sent)
    log.info("console account created", account=created.name, role=created.role, by=session.principal.actor)
    done = say(request, "Account {name} created.").format(name=created.name)
    return await _shown(request, session, 201, done=done)


@router.post("/accounts/{name}/disable")
async def disable(request: Request, session: Manager, name: str) -> HTMLResponse:
    await form_token(request, session)
    try:
        await disable_account(request.app.state.store.pool, name, disabled_by=session.principal.actor)
    except TokenRefused as exc:
        return await _shown(request, session, 409, problem=str(exc))
    log.info("console account disabled", account=name, by=session.principal.actor)
    return await _shown(request, session, done=say(request, "Account {name} disabled.").format(name=name))
