"""Whether the service can do its work: PostgreSQL answers, Temporal answers, and a worker polls the task queue.

Each check is bounded by ``CHECK_WITHIN`` so that a dependency that hangs is
reported as failing instead of holding the probe; they run side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.store.eventstore import EventStore

OK = "ok"
CHECK_WITHIN = 3.0
"""Seconds each dependency has to answer."""
POLLER_FRESHNESS = timedelta(minutes=2)
"""A worker re-polls at least every ~70 s (a long poll's length); Temporal lists a poller for minutes after its
last poll, so only a poller seen within this is taken for a worker that is there."""


async def _postgres(store: EventStore) -> str:
    await store.head()  # on the event store's own (asyncpg) connections
    async with store.pool.connection() as conn:  # and on the psycopg pool the read models and the API share
        await conn.execute("SELECT 1")
    return OK


async def _temporal(client: Client) -> str:
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_WITHIN))
    return OK


async def _worker(client: Client, task_queue: str) -> str:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        described = await client.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=CHECK_WITHIN))
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:  # Temporal's time-skipping test server
            return "not checked: this Temporal server does not describe task queues"
        raise
    seen_since = datetime.now(UTC) - POLLER_FRESHNESS
    if not any(p.last_access_time.ToDatetime(UTC) >= seen_since for p in described.pollers):
        raise LookupError(f"no worker has polled task queue {task_queue!r} in the last {POLLER_FRESHNESS}")
    return OK


async def _outcome(check: Awaitable[str]) -> str:
    try:
        return await asyncio.wait_for(check, CHECK_WITHIN)
    except TimeoutError:
        return f"no answer within {CHECK_WITHIN:g} s"
    except Exception as exc:  # any failure of a dependency is the answer, whatever its type
        return f"{type(exc).__name__}: {exc}"


async def readiness(store: EventStore, client: Client, task_queue: str) -> dict[str, str]:
    """Each dependency's state: ``ok``, ``not checked: …`` (the server cannot tell), or why it failed."""
    names = ("postgres", "temporal", "worker")
    outcomes = await asyncio.gather(
        _outcome(_postgres(store)), _outcome(_temporal(client)), _outcome(_worker(client, task_queue))
    )
    return dict(zip(names, outcomes, strict=True))


def failed(checks: dict[str, str]) -> list[str]:
    return [name for name, outcome in checks.items() if outcome != OK and not outcome.startswith("not checked")]
