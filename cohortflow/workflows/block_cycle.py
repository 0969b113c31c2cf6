"""The cohort cycle of a block template (cohort-{id}): the template's blocks, opened and closed on their days.

The workflow interprets the template as data, as Temporal's DSL sample does:
it walks the calendar of steps (:func:`cohortflow.domain.block_cycle.timeline`),
sleeping on a durable timer until each, and runs one activity per step, in
which the block decides what it decides (a selection, credits, completion).
Nothing here knows a block kind. Imports go to the open block that takes
their kind; administrators may close a block early or withdraw someone. The
run continues as new after every block closes, so a programme of any length
keeps a short history.

Cohorts of the seven-phase form run :class:`CohortCycleWorkflow`, whose
recorded histories must keep replaying; the two share their commands' names,
so the API and the CLI steer either.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.blocks import (
        BlockActivities,
        BlockStepResult,
        RecordBlockCohortStarted,
        RunBlockStep,
        WithdrawalOutcome,
        WithdrawFromBlocks,
    )
    from cohortflow.activities.cycle_records import CycleRecordActivities, RecordCycleEvent
    from cohortflow.activities.imports import ImportActivities, ImportOutcome, ImportRecords
    from cohortflow.activities.reminders import ReminderActivities
    from cohortflow.domain.block_cycle import (
        BlockCycleState,
        Step,
        decide_close_block,
        decide_extend_block,
        import_block,
    )
    from cohortflow.domain.block_reminders import block_reminders_due
    from cohortflow.domain.cycle import CommandRefused, check_recordable
    from cohortflow.domain.phrases import phrase
    from cohortflow.domain.reminder_schedule import ReminderDue
    from cohortflow.domain.template import ProgrammeTemplate
    from cohortflow.workflows.cohort_cycle import (
        ClosePhase,
        CohortCycleResult,
        Counters,
        ExtendDeadline,
        FileImport,
        PlaceFill,
        Withdraw,
    )
    from cohortflow.workflows.cycle_support import AdminOutcome, CycleWorkflow, refusal, reminder_id, request_id


class BlockCycleInput(BaseModel):
    cohort_id: str
    template: ProgrammeTemplate
    day_seconds: float = 86_400.0
    """Length of a programme day; tests against a real dev server compress it (the demo skips time instead)."""
    actor: str = "system:cohort-cycle"
    state: BlockCycleState | None = None
    """Set when the workflow continues as new."""
    counters: Counters = Field(default_factory=Counters)
    plan_id: str | None = None
    reminded: list[str] = Field(default_factory=list)
    """Reminder occurrences (``rule/occurrence``) already queued."""
    kept_answers: dict[str, Any] = Field(default_factory=dict)
    """Answers to commands sent under an idempotency key (:mod:`cohortflow.workflows.kept_answers`)."""


class CloseBlock(BaseModel):
    block: str
    reason: str
    actor: str = "admin"


class ExtendBlock(BaseModel):
    block: str
    new_close: datetime
    reason: str
    actor: str = "admin"


class OpenBlock(BaseModel):
    code: str
    kind: str
    closes_at: datetime


class BlockCycleStatus(BaseModel):
    cohort_id: str
    open_blocks: list[OpenBlock]
    next_at: datetime | None
    """When the next block opens or closes."""
    finished: bool
    counters: Counters
    programme_version: int


@workflow.defn
class BlockCycleWorkflow(CycleWorkflow):
    QUEUE_REMINDERS = ReminderActivities.queue_block_reminders

    @workflow.init
    def __init__(self, inp: BlockCycleInput) -> None:
        super().__init__()
        # Known before the run starts: a command that reaches a continued run in its first task finds its state.
        self._inp = inp
        self._state: BlockCycleState | None = inp.state

    @workflow.run
    async def run(self, inp: BlockCycleInput) -> CohortCycleResult:
        if self._state is None:  # a first run; a continued one was given its state
            started_at = workflow.now()
            await self._activity(
                BlockActivities.record_block_cohort_started,
                RecordBlockCohortStarted(
                    ref=self._ref(inp.actor), template=inp.template, started_at=started_at, day_seconds=inp.day_seconds
                ),
            )
            self._state = BlockCycleState(started_at=started_at, day_seconds=inp.day_seconds)
        # Held in an attribute: the event loop keeps only weak references to tasks.
        self._reminders = asyncio.create_task(self._remind())
        while (step := self._state_now().next_step(inp.template)) is not None:
            if not await self._until(step):
                continue  # an administrator changed the calendar: look again
            if step.action == "close":
                await self._reminders_sent()
            async with self._commands:
                due = self._still_due(step)
                if due:
                    await self._run_step(step)
            if not due:
                continue  # an extension moved the step while it waited for a command to finish
            if step.action == "close" or workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
        await self._reminders_sent()
        return CohortCycleResult(cohort_id=inp.cohort_id, counters=inp.counters)

    async def _run_step(self, step: Step) -> None:
        inp, state = self._input(), self._state_now()
        result: BlockStepResult = await self._activity(
            BlockActivities.run_block_step,
            RunBlockStep(
                ref=self._ref(inp.actor),
                block=step.block,
                action=step.action,
                closes_at=state.closes_at(inp.template, step.block),
                at=workflow.now(),
                reason=state.closing.get(step.block, "") if step.action == "close" else "",
            ),
        )
        inp.counters.selected += result.selected
        if result.completed is not None and result.credit_hours is not None:
            inp.counters.completed, inp.counters.credit_hours = result.completed, result.credit_hours
        self._state = state.ran(step, workflow.now())

    def _still_due(self, step: Step) -> bool:
        state = self._state_now()
        return state.next_step(self._input().template) == step and (
            step.block in state.closing or state.at(step) <= workflow.now()
        )

    async def _until(self, step: Step) -> bool:
        """Sleep until the step is due; False if the state changed first (a block asked to close now)."""
        state = self._state_now()
        if step.action == "close" and step.block in state.closing:
            return True
        remaining = (state.at(step) - workflow.now()).total_seconds()
        if remaining <= 0:
            return True
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._state is not state, timeout=remaining, timeout_summary=f"{step.action} {step.block}"
            )
            return False
        return True

    # ----------------------------------------------------------- reminders
    def _reminder_moments(self) -> list[ReminderDue]:
        return block_reminders_due(self._input().template, self._state_now())

    # ------------------------------------------------------------- updates
    @workflow.update
    async def import_file(self, req: FileImport) -> ImportOutcome:
        inp = self._input()
        async with self._commands:
            try:  # the block may have closed while the file waited its turn
                block = import_block(self._state_now(), inp.template, req.kind, req.block)
            except CommandRefused as exc:
                raise refusal(exc) from None
            outcome: ImportOutcome = await self._refusable(
                ImportActivities.import_records,
                ImportRecords(
                    ref=self._ref(req.actor),
                    kind=req.kind,
                    digest=req.digest,
                    filename=req.filename,
                    accept_partial=req.accept_partial,
                    prefecture=req.prefecture,
                    plan_id=inp.plan_id,
                    block=block,
                    request_id=request_id(req.digest),
                ),
            )
        if req.kind == "nominees" and outcome.status == "applied":
            inp.counters.candidates += outcome.applied
        return outcome

    @import_file.validator
    def _validate_import_file(self, req: FileImport) -> None:
        check_recordable(req.model_dump())
        import_block(self._state_now(), self._input().template, req.kind, req.block)

    @workflow.update
    async def close_block(self, req: CloseBlock) -> AdminOutcome:
        try:
            self._state = decide_close_block(
                self._state_now(), self._input().template, req.block, f"{req.reason} (by {req.actor})"
            )
        except CommandRefused as exc:
            raise refusal(exc) from None
        return AdminOutcome(outcome="closing")

    @close_block.validator
    def _validate_close_block(self, req: CloseBlock) -> None:
        check_recordable(req.model_dump())
        decide_close_block(self._state_now(), self._input().template, req.block, req.reason)

    @workflow.update
    async def extend_block(self, req: ExtendBlock) -> AdminOutcome:
        inp = self._input()
        async with self._commands:  # never while a step decides from the calendar
            try:
                state, event = decide_extend_block(
                    self._state_now(), inp.template, req.block, req.new_close, req.reason
                )
            except CommandRefused as exc:  # the block closed while the request waited its turn
                raise refusal(exc) from None
            self._state = state
            # "n days before the close" moments the extension put in the past would only repeat what was sent.
            now = workflow.now()
            passed = [reminder_id(d) for d in self._pending_reminders() if d.deadline is not None and d.at <= now]
            inp.reminded.extend(passed)
            await self._activity(
                CycleRecordActivities.record_cycle_event,
                RecordCycleEvent(
                    ref=self._ref(req.actor),
                    step=f"extend/{request_id(req.new_close.isoformat())}",
                    type=event.TYPE,
                    data=event.payload(),
                ),
            )
        return AdminOutcome(outcome="extended", deadline=req.new_close)

    @extend_block.validator
    def _validate_extend_block(self, req: ExtendBlock) -> None:
        check_recordable(req.model_dump())
        decide_extend_block(self._state_now(), self._input().template, req.block, req.new_close, req.reason)

    @workflow.update
    async def withdraw_participant(self, req: Withdraw) -> AdminOutcome:
        async with self._commands:  # which blocks are open is read once the command has its turn
            state = self._state_now()
            outcome: WithdrawalOutcome = await self._refusable(
                BlockActivities.withdraw_from_blocks,
                WithdrawFromBlocks(
                    ref=self._ref(req.actor),
                    request_id=request_id(req.participant_id),
                    participant_id=req.participant_id,
                    reason=req.reason,
                    open_blocks=state.open_blocks(self._input().template),
                    opened=state.opened(),
                ),
            )
        return AdminOutcome(outcome="withdrawn", replaced_by=outcome.replaced_by)

    @withdraw_participant.validator
    def _validate_withdraw(self, req: Withdraw) -> None:
        check_recordable(req.model_dump())
        if not req.reason.strip():
            raise CommandRefused(phrase("a withdrawal needs a reason"))
        if self._state_now().finished(self._input().template):
            raise CommandRefused(phrase("the cohort has finished"))

    # The seven-phase form's commands, answered with what to do instead (a validator's refusal records nothing).
    @workflow.update
    async def close_phase(self, req: ClosePhase) -> AdminOutcome:
        raise ApplicationError("unreachable: refused by the validator")

    @close_phase.validator
    def _refuse_close_phase(self, req: ClosePhase) -> None:
        raise CommandRefused(phrase("this cohort runs a block template, which has blocks, not phases: use close-block"))

    @workflow.update
    async def extend_deadline(self, req: ExtendDeadline) -> AdminOutcome:
        raise ApplicationError("unreachable: refused by the validator")

    @extend_deadline.validator
    def _refuse_extend(self, req: ExtendDeadline) -> None:
        raise CommandRefused(
            phrase("this cohort runs a block template, which has blocks, not phases: use extend-block")
        )

    @workflow.update
    async def fill_place(self, req: PlaceFill) -> AdminOutcome:
        raise ApplicationError("unreachable: refused by the validator")

    @fill_place.validator
    def _refuse_fill_place(self, req: PlaceFill) -> None:
        raise CommandRefused(phrase("filling a place of a block template's cohort is not supported yet"))

    @workflow.query
    def status(self) -> BlockCycleStatus:
        inp, state = self._input(), self._state
        open_blocks, next_at = [], None
        if state is not None:
            step = state.next_step(inp.template)
            next_at = None if step is None else state.at(step)
            for code in state.open_blocks(inp.template):
                block = inp.template.block(code)
                assert block is not None
                open_blocks.append(OpenBlock(code=code, kind=block.kind, closes_at=state.closes_at(inp.template, code)))
        return BlockCycleStatus(
            cohort_id=inp.cohort_id,
            open_blocks=open_blocks,
            next_at=next_at,
            finished=state is not None and state.finished(inp.template),
            counters=inp.counters,
            programme_version=inp.template.version,
        )

    # ------------------------------------------------------------- helpers
    def _input(self) -> BlockCycleInput:
        return self._inp

    def _state_now(self) -> BlockCycleState:
        if self._state is None:
            raise CommandRefused(phrase("the cohort is still starting"))
        return self._state

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._reminders_sent()
        inp = self._input()
        workflow.continue_as_new(inp.model_copy(update={"state": self._state_now()}))
