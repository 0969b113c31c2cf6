"""Who is signed in: the session a request's cookie names, and the form token its forms must carry."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, Request

from cohortflow.access.accounts import Session, session_of
from cohortflow.access.roles import Permission

SESSION_COOKIE = "cf_session"


class SignInNeeded(Exception):
    """No live session: the reader is sent to the sign-in page."""


class FormForged(Exception):
    """A form without its session's form token: not sent from this console."""


class NotAllowed(Exception):
    """The signed-in account's role may not see this page."""


async def current_session(request: Request) -> Session:
    value = request.cookies.get(SESSION_COOKIE)
    found = None if value is None else await session_of(request.app.state.store.pool, value)
    if found is None:
        raise SignInNeeded
    return found


Signed = Annotated[Session, Depends(current_session)]


def allowed(permission: Permission) -> Any:
    """A dependency: the session, if its role has ``permission`` (a page for that permission)."""

    async def check(session: Signed) -> Session:
        if not session.principal.can(permission):
            raise NotAllowed(permission.value)
        return session

    return Depends(check)


async def form_token(request: Request, session: Signed) -> Session:
    """The session of a form that carries its form token; a form without it (forged elsewhere) is refused."""
    sent = (await request.form()).get("csrf")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf):
        raise FormForged("the form did not carry this session's form token")
    return session


FormSession = Annotated[Session, Depends(form_token)]
