"""Commands to a running cohort or plan (Temporal Updates), answered within a bounded wait.

A cohort applies a command through an activity that retries without a limit
(``workflows.options.RETRY``), so while its store is out a command waits with
it. Rather than hold the request for as long as the outage lasts, the API
answers 202 after ``COMMAND_WAIT`` with where its outcome will be
(``GET /api/v1/commands/{command_id}``): the cohort has accepted the command
and applies it, once, when the outage ends. A command the cohort refuses is
refused at once by its validator, before it is accepted, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.idempotency import Once
from cohortflow.api.language import current
from cohortflow.domain.phrases import phrase
from cohortflow.texts.phrasebook import translate

COMMAND_WAIT = 30.0
"""Seconds a request waits for its command's outcome before it is answered 202 (imports of 50,000 rows fit)."""
HANDOVER_TRIES = 5
HANDOVER_WAIT = 0.2
"""How often, and how far apart, an Update is sent again while its workflow hands over to its next run."""
SEPARATOR = "."
"""Between the workflow id, its run and the update id: no cohort or plan id, and no UUID, holds one."""

router = APIRouter(prefix="/api/v1/commands", tags=["commands"])


class CommandPending(Exception):
    """The command was accepted and is not yet applied: its outcome is to be read at ``location``."""

    def __init__(self, command_id: str) -> None:
        super().__init__(command_id)
        self.command_id = command_id
        self.location = f"{router.prefix}/{command_id}"


class Pending(BaseModel):
    detail: str
    command_id: str


def pending_answer(exc: CommandPending) -> JSONResponse:
    body = Pending(
        detail=translate(
            phrase(
                "the command is accepted and not yet applied (the cohort's store or worker may be out): "
                "it will be applied once; read its outcome at the Location given"
            ),
            current(),
        ),
        command_id=exc.command_id,
    )
    headers = {"Location": exc.location, "Retry-After": "5"}
    return JSONResponse(status_code=202, content=body.model_dump(), headers=headers)


async def _outcome(update: WorkflowUpdateHandle[Any]) -> Any:
    command_id = SEPARATOR.join((update.workflow_id, update.workflow_run_id or "", update.id))
    waiting = asyncio.ensure_future(update.result())
    done, _ = await asyncio.wait({waiting}, timeout=COMMAND_WAIT)
    if not done:
        waiting.cancel()  # the SDK answers the cancelled wait with an error of its own, not CancelledError
        with contextlib.suppress(asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError):
            await waiting
        raise CommandPending(command_id)
    return waiting.result()


def refusal(exc: WorkflowUpdateFailedError) -> str:
    """The reason a workflow gave for refusing an Update (its ApplicationError's message)."""
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)


class RowsRefused(Exception):
    """A file whose rows were refused, nothing applied: answered 422 with the import's ``outcome`` in the problem."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        if "rejected" in outcome:
            refused = phrase(
                "the file was refused ({rows} rows, {rejected} rejected); nothing was applied",
                rows=f"{outcome.get('rows', 0):,}",
                rejected=f"{outcome['rejected']:,}",
            )
        else:  # the credit bank's files count no rejected rows: one problem refuses the whole file
            problems = outcome.get("problem_count") or len(outcome.get("problems") or [])
            refused = phrase(
                "the file was refused ({problems} problems); nothing was applied", problems=f"{problems:,}"
            )
        super().__init__(refused)
        self.outcome = outcome

    def members(self) -> dict[str, Any]:
        """The outcome's members for the problem: its ``status`` (``refused``) as ``outcome``, the problem's
        own ``status`` being the HTTP status."""
        members = dict(self.outcome)
        members["outcome"] = members.pop("status")
        return members


def _answered(outcome: Any) -> Any:
    """The outcome as answered: an import that refused its rows (nothing applied) is a 422, whether its own
    route answers it or ``GET /commands`` does later."""
    body = outcome if isinstance(outcome, dict) else None
    if isinstance(outcome, BaseModel):
        body = outcome.model_dump(mode="json")
    if body is not None and body.get("status") == "refused":
        raise RowsRefused(body)
    return outcome


async def send(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    arg: BaseModel,
    result_type: type | None = None,
    *,
    once: Once | None = None,
) -> Any:
    """The outcome of the Update ``update`` (a method of the workflow, or its name) with ``arg``, as answered;
    :class:`CommandPending` if it is not applied within ``COMMAND_WAIT``. Under an idempotency key (``once``)
    a request sent again joins the first one's Update."""
    command = update if isinstance(update, str) else update.__name__
    update_id = None if once is None else await once.update_id(handle.id, command, arg)
    for attempt in range(1, HANDOVER_TRIES + 1):
        try:
            accepted = await handle.start_update(
                update, arg, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=result_type
            )
            break
        except RPCError as exc:
            # A workflow continuing as new (a cohort does so at each phase's close) is briefly not found between
            # its runs; the Update was not taken, so sending it again applies it once. A workflow that is not
            # there at all stays not found and is answered 404.
            if exc.status != RPCStatusCode.NOT_FOUND or attempt == HANDOVER_TRIES:
                raise
            await asyncio.sleep(HANDOVER_WAIT)
    return _answered(await _outcome(accepted))


@router.get(
    "/{command_id}",
    responses={
        202: {"model": Pending, "description": "accepted and not yet applied: ask again"},
        409: {"description": "The cohort refused the command"},
    },
)
async def outcome(
    command_id: str, request: Request, _: Annotated[Principal, Depends(require(Permission.IMPORTS_WRITE))]
) -> Any:
    """The outcome of a command answered 202: as the command's own route would have answered, or 202 again."""
    parts = command_id.split(SEPARATOR)
    if len(parts) != 3 or not all(parts):
        raise LookupError(
            phrase(
                "{command_id} is not a command id (it is given in the Location of a 202 answer)",
                command_id=repr(command_id),
            )
        )
    workflow_id, run_id, update_id = parts
    handle = request.app.state.temporal.get_workflow_handle(workflow_id)
    return _answered(await _outcome(handle.get_update_handle(update_id, workflow_run_id=run_id)))
