"""The language of the API's problem answers: ``Accept-Language`` chooses Chinese or English (the default).

Only the words a person reads are said in the chosen language (a problem's title, detail and
problems, by :mod:`cohortflow.texts`); names, codes and values stay as recorded. The choice is
kept in a context variable for the request, set by :class:`AcceptLanguage` before anything
answers, so that every answer made for the request, a middleware's refusal too, finds it.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from cohortflow.domain.messages import LOCALES, Locale

_chosen: ContextVar[Locale] = ContextVar("language", default="en")


def preferred(header: str) -> Locale:
    """The language ``header`` (an ``Accept-Language`` value) ranks highest among ours; English when it names none.

    The header is a few comma-separated tags with optional ``;q=`` weights (RFC 9110 §12.5.4);
    parsing it is a few lines, and no library the project uses offers it for a plain ASGI app.
    """
    ranked: list[tuple[float, int, Locale]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        if primary in LOCALES and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else "en"


def current() -> Locale:
    """The language the request being answered asked for."""
    return _chosen.get()


class AcceptLanguage:
    """Sets the request's language from its ``Accept-Language`` header (pure ASGI, so every answer inside sees it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = next((v for k, v in scope["headers"] if k == b"accept-language"), b"")
            # Set on every request, never reset: the server's last-resort 500 is answered outside this middleware.
            _chosen.set(preferred(header.decode("latin-1")))
        await self.app(scope, receive, send)
