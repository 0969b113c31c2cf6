"""How a cohort's workflow runs: its state and, when it cannot make progress, why and since when.

A step that fails for a reason of the infrastructure is retried without a limit
(``workflows.options.RETRY``), so through an outage the cohort's workflow stays
running and its own status (the status query) looks healthy. Temporal keeps, for
each step in flight, its attempt and last failure: a step past its third attempt
is a stall, reported with the failure and the time the step was first scheduled.
A workflow whose own code keeps failing is a stall too. A cohort that ended
otherwise than by completing (failed, terminated) says how.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.domain.cohort_stream import COHORT_STREAM_PREFIX
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.queries import CohortFilter, list_cohorts
from cohortflow.workflows.block_cycle import BlockCycleWorkflow
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow, workflow_id
from cohortflow.workflows.options import STALLED_AFTER_ATTEMPTS

State = Literal["running", "completed", "failed", "canceled", "terminated", "continued_as_new", "timed_out"]
WORKFLOW_TASK = "workflow task"
"""The step named in a stall of the workflow's own code."""
DESCRIBED_AT_ONCE = 8
COHORT_TYPES = " OR ".join(f"WorkflowType = '{w.__name__}'" for w in (CohortCycleWorkflow, BlockCycleWorkflow))


class Stall(BaseModel):
    step: str
    """The activity that keeps failing, or ``workflow task`` when the workflow's own code does."""
    attempt: int
    reason: str
    """The last failure, as the step raised it."""
    since: datetime
    """When the step was first scheduled: the cohort has made no progress since."""
    next_attempt_at: datetime | None = None


class Execution(BaseModel):
    state: State
    stalled: Stall | None = None
    ended_because: str | None = None
    """Why a cohort failed, was terminated or timed out."""


class StalledCohort(BaseModel):
    cohort_id: str
    stall: Stall


def _time(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds or stamp.nanos else None


def _reason(failure: Failure) -> str:
    kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    text = f"{kind}: {failure.message}" if kind else failure.message
    return text or phrase("failed without a message")


async def _first_scheduled(handle: WorkflowHandle[Any, Any], activity_id: str) -> datetime | None:
    """When the step was first scheduled: pending activities carry only their latest attempt's times."""
    async for event in handle.fetch_history_events():
        scheduled = event.activity_task_scheduled_event_attributes
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and scheduled.activity_id == activity_id:
            return _time(event.event_time)
    return None


async def _activity_stall(handle: WorkflowHandle[Any, Any], pending: Iterable[PendingActivityInfo]) -> Stall | None:
    stuck = [p for p in pending if p.attempt >= STALLED_AFTER_ATTEMPTS]
    if not stuck:
        return None
    worst = max(stuck, key=lambda p: p.attempt)
    since = await _first_scheduled(handle, worst.activity_id) or _time(worst.scheduled_time) or datetime.now(UTC)
    return Stall(
        step=worst.activity_type.name,
        attempt=worst.attempt,
        reason=_reason(worst.last_failure) if worst.HasField("last_failure") else phrase("not answered by any worker"),
        since=since,
        next_attempt_at=_time(worst.next_attempt_schedule_time),
    )


async def _ended_because(handle: WorkflowHandle[Any, Any], state: State) -> str | None:
    if state not in ("failed", "terminated", "timed_out"):
        return None
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        if event.HasField("workflow_execution_failed_event_attributes"):
            return _reason(event.workflow_execution_failed_event_attributes.failure)
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason = event.workflow_execution_terminated_event_attributes.reason
            return phrase("terminated: {reason}", reason=reason or phrase("no reason given"))
    return state.replace("_", " ")


async def _stall_of(
    client: Client, handle: WorkflowHandle[Any, Any], raw: DescribeWorkflowExecutionResponse
) -> Stall | None:
    """The running workflow's stall: a step of its own, its own code, or else a stall of a child it waits on
    (a field-study site), named ``child-id: step``."""
    stall = await _activity_stall(handle, raw.pending_activities)
    task = raw.pending_workflow_task
    if stall is None and task.attempt >= STALLED_AFTER_ATTEMPTS:
        stall = Stall(
            step=WORKFLOW_TASK,
            attempt=task.attempt,
            reason=phrase("the workflow's own code fails on every attempt (the worker's log has the error)"),
            since=_time(task.original_scheduled_time) or _time(task.scheduled_time) or datetime.now(UTC),
        )
    for child in raw.pending_children if stall is None else ():
        found = await execution_of(client, child.workflow_id)
        if found.stalled is not None:
            return found.stalled.model_copy(update={"step": f"{child.workflow_id}: {found.stalled.step}"})
    return stall


async def execution_of(client: Client, workflow_id: str) -> Execution:
    """The workflow's state, with its stall or why it ended (a describe of it and of the children it waits on,
    and a history only when needed)."""
    handle = client.get_workflow_handle(workflow_id)
    described = await handle.describe()
    status = described.status or WorkflowExecutionStatus.RUNNING
    state: State = status.name.lower()  # type: ignore[assignment]  # the enum's names are the literal's values
    stall = await _stall_of(client, handle, described.raw_description) if state == "running" else None
    return Execution(state=state, stalled=stall, ended_because=await _ended_because(handle, state))


async def _running_cohorts(client: Client, pool: AsyncConnectionPool[Any]) -> list[str]:
    """The cohorts whose workflow runs, as Temporal lists them; it answers while the store is out. A server
    without visibility (the time-skipping test server) cannot list: then the cohorts the store has recorded."""
    try:
        return [
            w.id.removeprefix(COHORT_STREAM_PREFIX)
            async for w in client.list_workflows(f"({COHORT_TYPES}) AND ExecutionStatus = 'Running'")
        ]
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    return [c.cohort_id for c in await list_cohorts(pool) if not c.completed]


@dataclass(frozen=True)
class StallFilter:
    """Which stalls a list holds: at one step (the cohort's own, or a child's), stalled at least so long."""

    step: str | None = None
    at_least: timedelta | None = None

    def holds(self, found: StalledCohort, now: datetime) -> bool:
        step = found.stall.step
        return (self.step is None or step == self.step or step.endswith(f": {self.step}")) and (
            self.at_least is None or now - found.stall.since >= self.at_least
        )


async def stalled_cohorts(
    client: Client,
    pool: AsyncConnectionPool[Any],
    only: CohortFilter | None = None,
    stalls: StallFilter = StallFilter(),
) -> list[StalledCohort]:
    """Every running cohort whose workflow is stalled (``only`` those the read models hold, if given: of a
    programme, in a phase; and only the ``stalls`` it holds), the longest stalled first.

    ``pool`` (the store's) lists the cohorts for a server that cannot list its workflows, and those ``only``
    names: without ``only`` the list needs Temporal alone, and answers while the store is out.
    """
    gate = asyncio.Semaphore(DESCRIBED_AT_ONCE)
    running = await _running_cohorts(client, pool)
    if only is not None:
        named = {c.cohort_id for c in await list_cohorts(pool, only=only)}
        running = [c for c in running if c in named]

    async def stall_of(cohort_id: str) -> StalledCohort | None:
        async with gate:
            found = await execution_of(client, workflow_id(cohort_id))
        return StalledCohort(cohort_id=cohort_id, stall=found.stalled) if found.stalled else None

    found = await asyncio.gather(*(stall_of(c) for c in running))
    now = datetime.now(UTC)
    return sorted((s for s in found if s is not None and stalls.holds(s, now)), key=lambda s: s.stall.since)
