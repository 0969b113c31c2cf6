"""Starting a workflow whose id may never be used twice (a cohort, a plan): Temporal's id policy refuses it."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError


async def start_once(
    client: Client, run: Any, inp: Any, workflow_id: str, task_queue: str, exists: Exception
) -> WorkflowHandle[Any, Any]:
    """Start ``run`` as ``workflow_id``; ``exists`` is raised if that id was ever used, running or closed."""
    try:
        return await client.start_workflow(
            run,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise exists from None
