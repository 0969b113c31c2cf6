"""A command sent again under its idempotency key gets its first answer, even from the workflow's next run.

The API sends a keyed command as the Update of id ``command:KEY``
(:func:`keyed_update_id`), and Temporal gives a second Update of that id the
first one's outcome, but only within one run. The cohort cycles continue as new
as a phase or block closes, often because of the very command that closed it,
so a request sent again a moment later would reach the next run and be judged
afresh (refused 409 "phase … is not open" though it was applied). A workflow
that keeps its answers (:class:`KeepsAnswers`) holds the outcome of each keyed
Update it applied in its input, which it carries when it continues as new; this
interceptor gives a kept answer to the same Update id again without validating or
running it.

Only an applied command's answer is kept: a refused one changed nothing and is
judged again. At most :data:`KEPT` answers are carried, the newest; a request
sent again after that many later keyed commands to the same cohort is judged
as a new one (a command's events are keyed by its Update id, so it still
records nothing twice).

An interceptor rather than a line in each handler and validator: every command,
and any command added later, is covered in one place. A workflow's behaviour
then depends on it being installed, so the worker and the auditor's replayer
both take :data:`WORKFLOW_INTERCEPTORS`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic_core import to_jsonable_python
from temporalio import workflow
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

KEY_SEPARATOR = ":"
"""Between a keyed Update id's command and key; an Update id the SDK makes (a UUID) has none."""
KEPT = 20
"""How many answers a run carries into the next: an import's answer, with its reported problems, is tens of KB."""


def keyed_update_id(command: str, key: str) -> str:
    """The Update id of ``command`` sent under the idempotency key ``key``."""
    return f"{command}{KEY_SEPARATOR}{key}"


@runtime_checkable
class KeepsAnswers(Protocol):
    def kept_answers(self) -> dict[str, Any]:
        """The answers to keyed Updates, by Update id, oldest first; carried when the workflow continues as new."""
        ...


def _kept() -> dict[str, Any] | None:
    instance = workflow.instance()
    return instance.kept_answers() if isinstance(instance, KeepsAnswers) else None


class _KeptAnswersInbound(WorkflowInboundInterceptor):
    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        kept = _kept()
        if kept is not None and input.id in kept:
            return  # applied by an earlier run: answered below, not judged again against today's state
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        kept = _kept()
        if kept is not None and input.id in kept:
            return kept[input.id]
        outcome = await super().handle_update_handler(input)
        if kept is not None and KEY_SEPARATOR in input.id:
            kept[input.id] = to_jsonable_python(outcome)
            for oldest in list(kept)[:-KEPT]:
                del kept[oldest]
        return outcome


class KeptAnswers(Interceptor):
    """Gives a workflow that keeps its answers (:class:`KeepsAnswers`) its kept answer to a keyed Update sent again."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _KeptAnswersInbound


WORKFLOW_INTERCEPTORS: list[Interceptor] = [KeptAnswers()]
"""What every worker and replayer of the workflows installs: the workflows' behaviour depends on it."""
