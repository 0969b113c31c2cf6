"""What both cohort cycles share: running activities, one admin command at a time, refusals, corrections
and the one reminder timer.

:class:`~cohortflow.workflows.cohort_cycle.CohortCycleWorkflow` (seven
phases) and :class:`~cohortflow.workflows.block_cycle.BlockCycleWorkflow`
(block templates) differ in their calendar and in how a reminder's moments
are found; how an activity runs, how commands take turns, how a refusal
reaches the administrator, how a fact is corrected and how reminders are
queued one occurrence at a time is the same, and lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.base import CohortRef
    from cohortflow.activities.corrections import CorrectFact, CorrectionActivities
    from cohortflow.activities.reminders import QueueReminders
    from cohortflow.domain.cycle import CommandRefused, check_recordable
    from cohortflow.domain.events import CorrectableField, FactCorrected
    from cohortflow.domain.phrases import phrase
    from cohortflow.domain.programme import PhaseKind
    from cohortflow.domain.reminder_schedule import ReminderDue
    from cohortflow.workflows.options import run_activity


class Correction(BaseModel):
    participant_id: str
    field: CorrectableField
    value: str
    reason: str
    actor: str = "admin"


class AdminOutcome(BaseModel):
    outcome: str
    phase: PhaseKind | None = None
    deadline: datetime | None = None
    replaced_by: str | None = None
    promoted: str | None = None
    correction: FactCorrected | None = None


def reminder_id(due: ReminderDue) -> str:
    return f"{due.rule}/{due.occurrence}"


def request_id(fallback: str) -> str:
    """The Update's id keys the command's events: a retried request records nothing twice."""
    update = workflow.current_update_info()
    return update.id if update else fallback


async def refusals_answered(running: Awaitable[Any]) -> Any:
    """The result of an Update's activity; its refusal (a non-retryable failure) answers the Update with the
    refusal's own message instead of "Activity task failed"."""
    try:
        return await running
    except ActivityError as exc:
        refusal = exc.cause
        if isinstance(refusal, ApplicationError) and refusal.non_retryable:
            raise ApplicationError(refusal.message, type=refusal.type, non_retryable=True) from None
        raise


def refusal(exc: CommandRefused) -> ApplicationError:
    """A domain refusal as the answer to an administrator's Update: final, with its own message."""
    return ApplicationError(str(exc), type="CommandRefused", non_retryable=True)


class CycleInput(Protocol):
    """What the base reads of either cycle's input."""

    cohort_id: str
    actor: str
    reminded: list[str]
    kept_answers: dict[str, Any]


class CycleWorkflow:
    """Base of the cohort cycle workflows; a subclass keeps its state in ``_state`` and says what is due."""

    QUEUE_REMINDERS: ClassVar[Any]
    """The activity that queues one reminder occurrence."""

    def __init__(self) -> None:
        self._state: object | None = None
        self._reminders: asyncio.Task[None] | None = None
        self._reminding = False
        # Steps and admin commands decide from the facts as they are: one at a time, so two imports (or an
        # import and a withdrawal) never decide from the same stale facts, and nothing closes mid-import.
        self._commands = asyncio.Lock()

    # What a cycle tells its base.
    def _input(self) -> CycleInput:
        raise NotImplementedError

    def _reminder_moments(self) -> list[ReminderDue]:
        """Every occurrence the cycle's rules schedule as things stand, earliest first."""
        raise NotImplementedError

    def _cohort_id(self) -> str:
        return self._input().cohort_id

    def _actor(self) -> str:
        return self._input().actor

    def kept_answers(self) -> dict[str, Any]:
        """Answers to keyed commands, carried across continue-as-new (:mod:`cohortflow.workflows.kept_answers`)."""
        return self._input().kept_answers

    def _reminded(self) -> list[str]:
        """Occurrences already queued (or passed over), kept across continue-as-new."""
        return self._input().reminded

    # Activities.
    def _ref(self, actor: str) -> CohortRef:
        return CohortRef(cohort_id=self._cohort_id(), workflow_id=workflow.info().workflow_id, actor=actor)

    async def _activity(self, fn: Any, arg: BaseModel) -> Any:
        return await run_activity(fn, arg)

    async def _refusable(self, fn: Any, arg: BaseModel) -> Any:
        """Run an admin command's activity; a refusal answers the administrator with its own message."""
        return await refusals_answered(self._activity(fn, arg))

    async def _admin_activity(self, fn: Any, arg: BaseModel) -> Any:
        """Run an admin command's activity, one command at a time; a refusal answers the administrator."""
        async with self._commands:
            return await self._refusable(fn, arg)

    # Commands both forms answer alike.
    @workflow.update
    async def correct_fact(self, req: Correction) -> AdminOutcome:
        corrected: FactCorrected = await self._admin_activity(
            CorrectionActivities.correct_fact,
            CorrectFact(
                ref=self._ref(req.actor),
                request_id=request_id(req.participant_id),
                participant_id=req.participant_id,
                field=req.field,
                value=req.value,
                reason=req.reason,
            ),
        )
        return AdminOutcome(outcome="corrected", correction=corrected)

    @correct_fact.validator
    def _validate_correct_fact(self, req: Correction) -> None:
        check_recordable(req.model_dump())
        if not req.reason.strip():
            raise CommandRefused(phrase("a correction needs a reason"))

    # Reminders.
    def _pending_reminders(self) -> list[ReminderDue]:
        reminded = self._reminded()
        return [d for d in self._reminder_moments() if reminder_id(d) not in reminded]

    async def _state_change(self, timeout: float | None, summary: str) -> None:
        """Wait for the cycle's state to change (a step, a deadline, an early close), or ``timeout`` seconds."""
        state = self._state
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._state is not state, timeout=timeout, timeout_summary=summary)

    async def _remind(self) -> None:
        """One timer for the earliest reminder occurrence not yet handled; recomputed whenever the state changes."""
        while True:
            due = self._pending_reminders()
            if not due:
                await self._state_change(None, "")
                continue
            first = due[0]
            remaining = (first.at - workflow.now()).total_seconds()
            if remaining > 0:
                await self._state_change(remaining, f"reminder {first.rule}")
                continue
            self._reminding = True
            await self._activity(self.QUEUE_REMINDERS, QueueReminders(ref=self._ref(self._actor()), due=first))
            self._reminded().append(reminder_id(first))
            self._reminding = False

    async def _reminders_sent(self) -> None:
        """Before a step closes something, the run continues as new or the cycle ends: queue every reminder due.

        Otherwise a reminder due moments before a deadline, or one whose activity is
        still retrying, would be dropped with the step (or cancelled with the run).
        """
        if self._reminders is None:
            return
        await workflow.wait_condition(
            lambda: not self._reminding and all(d.at > workflow.now() for d in self._pending_reminders())
        )
