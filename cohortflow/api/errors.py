"""How refusals become HTTP answers: one place, so every route refuses alike.

Domain and store refusals carry their own message; the API only chooses the
status: 404 for something that does not exist, 409 for a command the cohort's
current state refuses, 413/415 for a body it will not read, 422 for content
that is wrong (with every problem listed).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.programme import ProgrammeInvalid
from cohortflow.services.cohorts import CohortExists
from cohortflow.services.programmes import TemplateRefused, UnsupportedTemplateType
from cohortflow.store.errors import StoreError


class BodyTooLarge(ValueError):
    pass


class UnsupportedUpload(ValueError):
    pass


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 once it passes the configured limit (never read whole first)."""
    limit: int = request.app.state.settings.max_upload_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is larger than the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, **extra})


STATUS: dict[type[Exception], int] = {
    UnsupportedTemplateType: 415,
    UnsupportedUpload: 415,
    TemplateRefused: 422,
    BodyTooLarge: 413,
    LookupError: 404,
    CohortExists: 409,
    CommandRefused: 409,
    StoreError: 409,
}
"""Refusals whose message is the answer; the most specific class listed decides the status."""


async def _refusal(_: Request, exc: Exception) -> JSONResponse:
    status = next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)
    # A KeyError's str() quotes its message; the message itself is what the caller should read.
    if not isinstance(exc, LookupError):
        return _answer(status, str(exc))
    return _answer(status, str(exc.args[0]) if exc.args else "not found")


def install(app: FastAPI) -> None:
    for cls in STATUS:
        app.add_exception_handler(cls, _refusal)

    @app.exception_handler(ProgrammeInvalid)
    async def invalid_programme(_: Request, exc: ProgrammeInvalid) -> JSONResponse:
        return _answer(422, "programme template is invalid", problems=exc.problems)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_refused(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        return _answer(409, message)

    @app.exception_handler(RPCError)
    async def temporal_refused(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _answer(404, "no such cohort is running")
        return _answer(503, f"the workflow service did not answer: {exc.message}")
