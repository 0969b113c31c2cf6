"""Reaching the credit bank's workflow: started on first use, the running one thereafter."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from cohortflow.activities.credit_bank import WORKFLOW_ID
from cohortflow.workflows.credit_bank import CreditBankInput, CreditBankWorkflow


async def credit_bank(client: Client, task_queue: str) -> WorkflowHandle[Any, Any]:
    """The running credit bank workflow, started now if it is not running (it never ends on its own, but an
    operator may have terminated it: a new run then picks up from the people's streams)."""
    return await client.start_workflow(
        CreditBankWorkflow.run,
        CreditBankInput(),
        id=WORKFLOW_ID,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
