"""Checks every request passes before any route sees it: a well-formed address and a body within its limit.

They run as ASGI middleware, ahead of FastAPI, because FastAPI reads a request's
body (and spools a multipart upload to disk) before it runs the route's
dependencies, token check included. Here a body is refused by its declared
length before a byte of it is read, and cut off as soon as it passes the limit
when no length was declared; an address holding a NUL or other control
character, or query text that is not UTF-8, is refused before anything
reaches the database, which would fail on it with a server error.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cohortflow.api.errors import BodyTooLarge
from cohortflow.api.problems import encoded
from cohortflow.domain.phrases import phrase

MAX_PATH = 2048


def _control_character(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def address_problem(scope: Scope) -> str | None:
    """Why the request's path or query cannot be taken, or None."""
    path: str = scope["path"]
    if len(path) > MAX_PATH:
        return phrase("the address is longer than {limit} characters", limit=f"{MAX_PATH:,}")
    if _control_character(path):
        return phrase("the address holds a control character (such as NUL), which no id or name contains")
    query: bytes = scope.get("query_string", b"")
    try:
        text = unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return phrase("the query is not UTF-8 text")
    if len(text) > MAX_PATH:
        return phrase("the query is longer than {limit} characters", limit=f"{MAX_PATH:,}")
    if _control_character(text):
        return phrase("the query holds a control character (such as NUL), which no parameter takes")
    return None


class RequestGuard:
    """Refuse malformed addresses (400) and bodies over their limit (413) before the app reads them.

    Multipart uploads may be as large as ``upload_limit``; every other body (JSON
    commands, templates) at most ``body_limit``.
    """

    def __init__(self, app: ASGIApp, *, body_limit: int, upload_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = address_problem(scope)
        if problem is not None:
            await _refuse(scope, send, 400, problem)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_limit if upload else self.body_limit
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, 413, _too_large(limit, upload))
            return
        await self.app(scope, _counted(receive, limit, upload), send)


def _too_large(limit: int, upload: bool) -> str:
    if upload:
        return phrase("the file is larger than the limit of {limit} bytes", limit=f"{limit:,}")
    return phrase("the body is larger than the limit of {limit} bytes", limit=f"{limit:,}")


def _counted(receive: Receive, limit: int, upload: bool) -> Receive:
    """``receive`` that raises BodyTooLarge (answered 413 by the app) once the body passes ``limit``."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(_too_large(limit, upload))
        return message

    return counted


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    # The path is named only when it is one a client can be shown back: a refused one may hold a NUL.
    instance = None if status == 400 else scope["path"]
    body, headers = encoded(status, detail, instance)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
