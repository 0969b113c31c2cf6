"""How refusals become HTTP answers: one place, so every route refuses alike.

Domain and store refusals carry their own message; the API only chooses the
status: 404 for something that does not exist, 409 for a command the cohort's
current state refuses, 413/415 for a body it will not read, 422 for content
that is wrong (with every problem listed). Every answer is a problem
(``cohortflow.api.problems``), FastAPI's own refusals (404, 405, 422) and an
unexpected failure's 500 too.
"""

from __future__ import annotations

import errno
from typing import Any

import asyncpg
import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.api.commands import CommandPending, RowsRefused, pending_answer, refusal
from cohortflow.api.idempotency import KeyInUse, KeyReused
from cohortflow.api.problems import problem
from cohortflow.api.reviews import ReviewExists
from cohortflow.domain.credit_bank.review import ReviewRefused
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import ProgrammeInvalid
from cohortflow.services.cohorts import CohortExists
from cohortflow.services.programmes import TemplateRefused, UnsupportedTemplateType
from cohortflow.store.errors import StoreError


class BodyTooLarge(ValueError):
    pass


class UnsupportedUpload(ValueError):
    pass


def _answer(request: Request, status: int, detail: str, **extra: object) -> JSONResponse:
    return problem(status, detail, request.url.path, extensions=extra)


RETRY_AFTER = 5
"""Seconds a client is told to wait after an outage answer (503)."""


def _unavailable(request: Request, detail: str, status: int = 503) -> JSONResponse:
    return problem(status, detail, request.url.path, headers={"Retry-After": str(RETRY_AFTER)})


STATUS: dict[type[Exception], int] = {
    UnsupportedTemplateType: 415,
    UnsupportedUpload: 415,
    TemplateRefused: 422,
    KeyReused: 422,
    BodyTooLarge: 413,
    LookupError: 404,
    CohortExists: 409,
    ReviewExists: 409,
    ReviewRefused: 409,
    CommandRefused: 409,
    StoreError: 409,
}
"""Refusals whose message is the answer; the most specific class listed decides the status."""


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    status = next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)
    # A KeyError's str() quotes its message; the message itself is what the caller should read.
    if not isinstance(exc, LookupError):
        return _answer(request, status, str(exc))
    return _answer(request, status, str(exc.args[0]) if exc.args else phrase("not found"))


async def _http_refusal(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's and Starlette's own refusals (no such route: 404, 405) and the routes' HTTPExceptions."""
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), request.url.path, headers=exc.headers)


ADDRESS = {"query", "path", "header"}
"""Where a request's parameters are, as FastAPI names them in a problem's ``loc``; a body's problems are in ``body``."""


def _parameter_refused(problems: list[dict[str, Any]]) -> str:
    """What a 400 says of the parameters it refuses: the one parameter and why, or the names of several."""
    if len(problems) == 1:
        where, *_, name = problems[0]["loc"]
        parameter = {
            "query": phrase("query parameter {name}", name=name),
            "path": phrase("path parameter {name}", name=name),
        }.get(where, phrase("header {name}", name=name))
        return phrase("{parameter} is not valid: {why}", parameter=parameter, why=problems[0].get("msg", ""))
    names = ", ".join(dict.fromkeys(str(p["loc"][-1]) for p in problems))
    return phrase("the parameters {names} are not valid; each problem is listed", names=names)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A request FastAPI could not take: each field's problem (where, why) listed, as FastAPI's own body did.

    A parameter of the address or a header it cannot take (``limit=abc``, a filter's unknown value, a bad date)
    is a malformed request: 400, naming the parameter. Only a body whose content is wrong, and nothing else, is
    422 (FastAPI answers 422 for both).
    """
    assert isinstance(exc, RequestValidationError)
    problems = jsonable_encoder(exc.errors())
    in_address = [p for p in problems if p.get("loc") and p["loc"][0] in ADDRESS]
    if in_address:
        return _answer(request, 400, _parameter_refused(in_address), problems=problems)
    return _answer(request, 422, phrase("the request is not valid"), problems=problems)


async def _failure(request: Request, _: Exception) -> JSONResponse:
    """A failure nothing else answers: the exception goes on to the log and server, the client gets a problem."""
    return _answer(request, 500, phrase("the server failed to answer this request; the failure is logged"))


def install(app: FastAPI) -> None:
    for cls in STATUS:
        app.add_exception_handler(cls, _refusal)
    app.add_exception_handler(HTTPException, _http_refusal)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _failure)

    @app.exception_handler(ProgrammeInvalid)
    async def invalid_programme(request: Request, exc: ProgrammeInvalid) -> JSONResponse:
        return _answer(request, 422, phrase("programme template is invalid"), problems=exc.problems)

    @app.exception_handler(RowsRefused)
    async def rows_refused(request: Request, exc: RowsRefused) -> JSONResponse:
        return _answer(request, 422, str(exc), **exc.members())

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_refused(request: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        return _answer(request, 409, refusal(exc))

    @app.exception_handler(KeyInUse)
    async def key_in_use(request: Request, exc: KeyInUse) -> JSONResponse:
        return problem(409, str(exc), request.url.path, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CommandPending)
    async def command_pending(_: Request, exc: CommandPending) -> JSONResponse:
        return pending_answer(exc)

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def update_not_taken(request: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        return _unavailable(
            request,
            phrase(
                "the cohort did not take the command in time (its worker is busy or down); "
                "see the cohort's status before sending it again"
            ),
        )

    @app.exception_handler(RPCError)
    async def temporal_refused(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _answer(request, 404, phrase("no such cohort, plan or review is running"))
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return _answer(request, 422, phrase("the workflow service refused the request: {why}", why=exc.message))
        return _unavailable(
            request, phrase("the workflow service did not answer ({why}); try again shortly", why=exc.message)
        )

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    # The event store's reads (asyncpg): refused, ended (a connection the server ended while it sat in the pool
    # fails its next statement with an internal client error), or the server out of a resource.
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.exceptions.InternalClientError)
    @app.exception_handler(asyncpg.InsufficientResourcesError)
    @app.exception_handler(ConnectionError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, psycopg.errors.DiskFull | asyncpg.DiskFullError):
            return _unavailable(
                request, phrase("the database's disk is full; nothing was recorded. Tell the operator."), 507
            )
        return _unavailable(request, phrase("the database is not answering; nothing was recorded. Try again shortly."))

    @app.exception_handler(OSError)
    async def disk_trouble(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno == errno.ENOSPC:
            return _unavailable(
                request, phrase("the server's disk is full; the file was not kept. Tell the operator."), 507
            )
        raise exc

    @app.exception_handler(UnicodeDecodeError)
    async def not_utf8(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return _answer(
            request, 400, phrase("the body is not UTF-8 text (byte {byte} cannot be decoded)", byte=exc.start)
        )
