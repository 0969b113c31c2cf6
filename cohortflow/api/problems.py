"""The one shape of every error answer: RFC 9457 problem details (``application/problem+json``).

Every 4xx/5xx the API gives, whoever gives it (a route's refusal, FastAPI's own 404,
405 and 422, the request guards, the token check, an outage), is a :class:`Problem`:
``type`` (``about:blank``: the status says what kind of problem it is), ``title``
(the status's phrase), ``status``, ``detail`` (what went wrong, for a person) and
``instance`` (the path asked for), plus ``problems``, the list of specific problems
(a template's or a file's, or the request's fields, each with where and why) when
there is more than one thing to say. The shape is a few lines of JSON, so it is
written here rather than taken from one of the young problem-details packages,
none of which also covers the ASGI middleware that answers before FastAPI does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cohortflow.api.language import current
from cohortflow.domain.messages import Locale
from cohortflow.texts.phrasebook import translate

MEDIA_TYPE = "application/problem+json"
BLANK = "about:blank"


class FieldProblem(BaseModel):
    """One field of a request that FastAPI could not take: where it is (``loc``), why (``msg``), the rule (``type``)."""

    model_config = ConfigDict(extra="allow")  # pydantic adds ``input`` and ``ctx`` when it has them

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error answer (RFC 9457). Further members (``command_id``, an import's counts) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = BLANK
    title: str
    status: int
    detail: str
    instance: str | None = None
    problems: list[str | FieldProblem] | None = Field(
        default=None, description="Each specific problem: a line naming the row or field and why, or a request field"
    )


def problem_body(status: int, detail: str, instance: str | None, **extensions: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": BLANK,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update({name: value for name, value in extensions.items() if value is not None})
    return body


def said(body: dict[str, Any], language: Locale) -> dict[str, Any]:
    """``body`` with the words a person reads (title, detail, each problem) said in ``language``."""
    if language == "en":
        return body
    out = {**body, "title": translate(body["title"], language), "detail": translate(body["detail"], language)}
    if isinstance(body.get("problems"), list):
        out["problems"] = [
            translate(p, language)
            if isinstance(p, str)
            else {**p, "msg": translate(p["msg"], language)}
            if isinstance(p, dict) and isinstance(p.get("msg"), str)
            else p
            for p in body["problems"]
        ]
    return out


def _language_headers(language: Locale) -> dict[str, str]:
    return {"Content-Language": language, "Vary": "Accept-Language"}


class ProblemResponse(JSONResponse):
    """A problem as JSON. A refused body is echoed in its problems (each one's ``input``) and may hold what UTF-8
    cannot encode: a lone surrogate, which JSON's ``\\ud800`` escape carries and pydantic refuses. Such a problem
    is written with every character beyond ASCII escaped, as the client sent it."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def problem(
    status: int,
    detail: str,
    instance: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> JSONResponse:
    """The answer ``status`` saying ``detail`` about the request for ``instance`` (its path), in its language."""
    language = current()
    return ProblemResponse(
        said(problem_body(status, detail, instance, **(extensions or {})), language),
        status_code=status,
        headers={**_language_headers(language), **(headers or {})},
        media_type=MEDIA_TYPE,
    )


def encoded(status: int, detail: str, instance: str | None) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and headers of a problem answered by ASGI middleware, which has no JSONResponse to render it."""
    language = current()
    body = json.dumps(said(problem_body(status, detail, instance), language), ensure_ascii=False).encode()
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    return body, headers + [(k.lower().encode(), v.encode()) for k, v in _language_headers(language).items()]


EXAMPLES: dict[int, str] = {
    400: "the address holds a control character (such as NUL), which no id or name contains",
    401: "unknown or revoked token",
    403: "role coordinator may not programmes:write",
    404: "cohort 2024-hn does not exist",
    409: "phase selection is not open",
    410: "the rejected rows of upload 3f2a… have expired: they are kept 7 days; import the file again",
    413: "the body is larger than the limit of 1,048,576 bytes",
    415: "a template is JSON or YAML, not text/plain",
    422: "the request is not valid",
    429: "too many failed sign-ins from this address; try again in 42 s",
    503: "the database is not answering; nothing was recorded. Try again shortly.",
}
"""What each status typically says, for the examples in the OpenAPI document."""

DESCRIPTIONS: dict[int, str] = {
    400: "The address or query is malformed (a control character, not UTF-8, too long), or a query or path "
    "parameter or a header is refused (a filter's unknown value, a bad date, a limit out of range, a cursor no page "
    "gave): the detail names it, and `problems` lists each one's problem",
    401: "No bearer token, or one that is malformed, unknown or revoked",
    403: "The token's role lacks the permission (or a coordinator's prefecture is not the one acted on)",
    404: "Nothing of that id exists (or it is another prefecture's, which a coordinator may not see)",
    409: "The current state refuses the command (a phase not open, an id already taken), or the first request under "
    "the same Idempotency-Key is still being answered (send it again after Retry-After)",
    410: "What was asked for existed and has since been deleted",
    413: "The body is larger than the limit",
    415: "The body's media type is not one the route reads",
    422: "The content is wrong: every problem is listed in `problems`",
    429: "Too many failed sign-ins from the client's address; try again after Retry-After",
    503: "The database or the workflow service is not answering; nothing was done. Try again after Retry-After",
}

HEADERS: dict[int, tuple[str, str]] = {
    401: ("WWW-Authenticate", "`Bearer`: the scheme the API takes"),
    429: ("Retry-After", "Seconds until the client's address may try again"),
    503: ("Retry-After", "Seconds to wait before sending the request again"),
}
"""The header an error answer carries, and what it says."""
KEYED_HEADERS: dict[int, tuple[str, str]] = {
    409: ("Retry-After", "Seconds to wait, when the first request under the same Idempotency-Key is still answered"),
}
"""The header an error answer of a route that takes an ``Idempotency-Key`` may carry besides."""


def _example(status: int, instance: str) -> dict[str, Any]:
    if status == 422:
        field = {"loc": ["body", "reason"], "msg": "Field required", "type": "missing"}
        return problem_body(422, EXAMPLES[422], instance, problems=[field])
    return problem_body(status, EXAMPLES[status], instance)


def answer(status: int, instance: str = "/api/v1/cohorts/2024-hn", *, keyed: bool = False) -> dict[str, Any]:
    """The OpenAPI description of the error answer ``status``: the problem schema, an example, its headers (those of
    a route taking an ``Idempotency-Key`` too, if ``keyed``)."""
    described: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {
            MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": _example(status, instance),
            }
        },
    }
    carried = HEADERS.get(status) or (KEYED_HEADERS.get(status) if keyed else None)
    if carried is not None:
        header, says = carried
        described["headers"] = {header: {"description": says, "schema": {"type": "string"}}}
    return described


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer these statuses besides those every route may (``openapi``)."""
    return {status: answer(status) for status in statuses}


def schemas() -> dict[str, Any]:
    """The components the problem answers refer to, as pydantic writes them for OpenAPI."""
    found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = found.pop("$defs", {})
    return {"Problem": found, **definitions}
