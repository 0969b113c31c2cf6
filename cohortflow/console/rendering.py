"""How a console page is rendered: its template with the reader's language, the local-time filter and the
signed-in principal, and the language cookie kept when the reader switches."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission, Principal
from cohortflow.console.language import COOKIE as LANGUAGE_COOKIE
from cohortflow.console.language import chosen, gettext_for
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.texts.phrasebook import translate

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def local(moment: datetime | None) -> str:
    """A moment as the province reads it (China time, to the minute)."""
    return "" if moment is None else moment.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%d %H:%M")


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = chosen(request)
    principal: Principal | None = context.setdefault("principal", None)

    def may(permission: str) -> bool:
        """Whether the signed-in account may (a page links only to what its reader may open)."""
        return principal is not None and principal.can(Permission(permission))

    def in_language(other: str) -> str:
        """This page's address in ``other`` language: its query kept (a comparison's versions, a search)."""
        return "?" + urlencode({**request.query_params, "lang": other})

    answer = templates.TemplateResponse(
        request,
        template,
        {
            "language": language,
            "_": gettext_for(language),
            "said": lambda text: translate(text, language),
            "local": local,
            "may": may,
            "in_language": in_language,
            **context,
        },
        status_code=status_code,
    )
    if "lang" in request.query_params:
        answer.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax")
    return answer


def not_found(request: Request, session: Session, message: str) -> HTMLResponse:
    """A 404 page saying ``message`` (already in the reader's language) to the signed-in reader."""
    return page(request, "message.html", 404, principal=session.principal, csrf=session.csrf, message=message)


def say(request: Request, message: str) -> str:
    """``message`` (one of the console's own texts) in the reader's language."""
    return gettext_for(chosen(request))(message)


def said(request: Request, text: str) -> str:
    """``text``, a phrase the service made (a refusal, a row's or a template's problem), in the reader's language.

    Pages say such texts with ``said(...)``; the console's own words go through ``_``/:func:`say`."""
    return translate(text, chosen(request))
