"""The cohort cycle (cohort-{id}): one workflow per cohort drives every phase.

Its state is the small :class:`CycleState` (phase, deadlines, a few counters),
never a per-participant map; per-participant work happens in batch activities.
Every deadline is a durable timer. Administrators steer it with Updates, each
validated by the domain and answered with the outcome or a specific refusal.
The workflow continues as new at every phase boundary (and whenever Temporal
suggests it), so a history never approaches its limits, however long the
programme runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from cohortflow.domain.cohort_stream import cohort_stream

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.base import CohortRef
    from cohortflow.activities.completion import CompleteCohort, CompletionActivities, CompletionResult
    from cohortflow.activities.cycle_records import CycleRecordActivities, RecordCohortStarted, RecordCycleEvent
    from cohortflow.activities.field_study import AssignPlacements, FieldStudyActivities
    from cohortflow.activities.imports import ImportActivities, ImportOutcome, ImportRecords
    from cohortflow.activities.places import FillPlace, FillPlaceActivities
    from cohortflow.activities.reminders import ReminderActivities
    from cohortflow.activities.selection import SelectionActivities, SelectionResult, SelectParticipants
    from cohortflow.activities.withdrawal import WithdrawalActivities, WithdrawalResult, WithdrawParticipant
    from cohortflow.domain.cycle import (
        CommandRefused,
        CycleState,
        check_import_open,
        check_recordable,
        check_withdrawal_open,
        decide_close_phase,
        decide_extend_deadline,
    )
    from cohortflow.domain.events import Event, ImportKind, PhaseClosed, PhaseOpened
    from cohortflow.domain.phrases import phrase
    from cohortflow.domain.programme import PhaseKind, Programme
    from cohortflow.domain.reminder_schedule import ReminderDue, reminders_due
    from cohortflow.workflows.cycle_support import (
        AdminOutcome,
        CycleWorkflow,
        refusal,
        reminder_id,
        request_id,
    )
    from cohortflow.workflows.field_study_site import FieldStudySiteInput, FieldStudySiteWorkflow
    from cohortflow.workflows.options import ACTIVITY_TIMEOUT, HEARTBEAT_TIMEOUT, RETRY


class SampleFeed(BaseModel):
    """How cohorts recorded before v6 got their records: sample activities as each phase opened.

    Kept only so that their histories replay. No worker runs those activities
    any more; every cohort now receives its records through imports.
    """

    seed: int


class Counters(BaseModel):
    candidates: int = 0
    selected: int = 0
    completed: int = 0
    credit_hours: float = 0.0


class CohortCycleInput(BaseModel):
    cohort_id: str
    programme: Programme
    day_seconds: float = 86_400.0
    """Length of a programme day; tests against a real dev server compress it (the demo skips time instead)."""
    feed: SampleFeed | None = None
    """Only in histories recorded before v6 (see :class:`SampleFeed`)."""
    actor: str = "system:cohort-cycle"
    state: CycleState | None = None
    """Set when the workflow continues as new."""
    counters: Counters = Field(default_factory=Counters)
    progress: int = 0
    """Steps of the open phase already done (phase opened, surveys run)."""
    reminded: list[str] = Field(default_factory=list)
    """Reminder occurrences (``rule/occurrence``) already queued or passed over."""
    plan_id: str | None = None
    """The rotation plan the cohort is a year of: nobody enrolled in another of its cohorts may be nominated."""
    kept_answers: dict[str, Any] = Field(default_factory=dict)
    """Answers to commands sent under an idempotency key (:mod:`cohortflow.workflows.kept_answers`)."""


class CohortCycleResult(BaseModel):
    cohort_id: str
    counters: Counters


class ClosePhase(BaseModel):
    phase: PhaseKind
    reason: str
    actor: str = "admin"


class ExtendDeadline(BaseModel):
    phase: PhaseKind
    new_deadline: datetime
    reason: str
    actor: str = "admin"


class Withdraw(BaseModel):
    participant_id: str
    reason: str
    actor: str = "admin"


class PlaceFill(BaseModel):
    participant_id: str | None = None
    """Who to promote; by default the next eligible candidate on the waiting list."""
    reason: str
    actor: str = "admin"


class FileImport(BaseModel):
    kind: ImportKind
    digest: str
    filename: str
    accept_partial: bool = False
    prefecture: str | None = None
    actor: str = "admin"
    block: str | None = None
    """In a block template's cohort: the open block the file is for, if more than one takes its kind."""


class CycleStatus(BaseModel):
    cohort_id: str
    phase: PhaseKind | None
    deadline: datetime | None
    counters: Counters
    programme_version: int
    finished: bool = False


def workflow_id(cohort_id: str) -> str:
    """The cohort's workflow id: its stream's name."""
    return cohort_stream(cohort_id)


@workflow.defn
class CohortCycleWorkflow(CycleWorkflow):
    QUEUE_REMINDERS = ReminderActivities.queue_reminders

    @workflow.init
    def __init__(self, inp: CohortCycleInput) -> None:
        super().__init__()
        # Known before the run starts: a command that reaches a continued run in its first task finds its state.
        self._inp = inp
        self._state: CycleState | None = inp.state
        self._wake = False
        self._close_reason = ""

    # ----------------------------------------------------------------- run
    @workflow.run
    async def run(self, inp: CohortCycleInput) -> CohortCycleResult:
        ref = self._ref(inp.actor)
        if self._state is None:  # a first run; a continued one was given its state
            started_at = workflow.now()
            await self._activity(
                CycleRecordActivities.record_cohort_started,
                RecordCohortStarted(
                    ref=ref, programme=inp.programme, started_at=started_at, day_seconds=inp.day_seconds
                ),
            )
            # Only now may admin commands arrive: their activities need the recorded start.
            self._state = CycleState(started_at=started_at, day_seconds=inp.day_seconds)
        if workflow.patched("reminders"):
            # Held in an attribute: the event loop keeps only weak references to tasks.
            self._reminders = asyncio.create_task(self._remind())
        progress = inp.progress
        while not self._state.finished:
            phase = self._state.phase
            if progress == 0:
                await self._sleep_until(self._state.opens_at(inp.programme), f"{phase} opens")
                await self._record(f"phase/{phase}/opened", PhaseOpened(phase=phase, deadline=self._deadline()))
                progress = 1
            progress = await self._run_phase(phase, progress)
            early = self._state.closed_early
            await self._reminders_sent()
            await self._record(
                f"phase/{phase}/closed", PhaseClosed(phase=phase, closed_early=early, reason=self._close_reason)
            )
            # Histories recorded before an early close kept an extension's unused part pass no programme.
            used_only = workflow.patched("early-close-keeps-unused-extension")
            self._state = self._state.advanced(workflow.now(), inp.programme if used_only else None)
            self._close_reason = ""
            progress = 0
            if not self._state.finished:
                await self._continue_as_new(progress)
        await self._reminders_sent()
        return CohortCycleResult(cohort_id=inp.cohort_id, counters=inp.counters)

    async def _run_phase(self, phase: PhaseKind, progress: int) -> int:
        """Do the phase's work (resuming after ``progress`` steps), then wait for its deadline."""
        inp = self._input()
        ref, feed = self._ref(inp.actor), inp.feed
        if progress == 1:
            if phase == "nomination" and feed:
                result = await self._recorded_feed("import_sample_nominees", ref, feed)
                inp.counters.candidates = result["nominated"]
            elif phase == "online_study" and feed:
                await self._recorded_feed("record_sample_online_study", ref, feed)
            elif phase == "selection":
                chosen: SelectionResult = await self._activity(
                    SelectionActivities.select_participants, SelectParticipants(ref=ref)
                )
                inp.counters.selected = chosen.selected
            elif phase == "field_study":
                await self._run_field_study(ref)
            elif phase == "return_to_post" and feed:
                await self._recorded_feed("record_sample_return_reports", ref, feed)
            elif phase == "completion":
                done: CompletionResult = await self._activity(
                    CompletionActivities.complete_cohort, CompleteCohort(ref=ref)
                )
                inp.counters.completed, inp.counters.credit_hours = done.completed, done.credit_hours
                return progress
            progress = 2
        if phase == "follow_up":
            progress = await self._run_follow_up(progress)
        await self._await_deadline(progress)
        return progress

    async def _run_field_study(self, ref: CohortRef) -> None:
        inp = self._input()
        await self._activity(FieldStudyActivities.assign_field_placements, AssignPlacements(ref=ref))
        opened_at = self._state_now().opens_at(inp.programme)
        handles = [
            workflow.execute_child_workflow(
                FieldStudySiteWorkflow.run,
                FieldStudySiteInput(
                    ref=ref,
                    site=site,
                    opened_at=opened_at,
                    day_seconds=inp.day_seconds,
                ),
                id=f"{workflow.info().workflow_id}-site-{site.code}",
            )
            for site in inp.programme.field_study.sites
        ]
        await asyncio.gather(*handles)

    async def _recorded_feed(self, activity: str, ref: CohortRef, feed: SampleFeed, **more: str) -> Any:
        """A sample-feed step of a cohort recorded before v6: replayed from its history, never run anew."""
        return await workflow.execute_activity(
            activity,
            {"ref": ref, "seed": feed.seed, **more},
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )

    async def _run_follow_up(self, progress: int) -> int:
        """Surveys at their offsets; ``progress`` - 2 of them have already run."""
        inp = self._input()
        state = self._state_now()
        opened_at = state.opens_at(inp.programme)
        for survey in inp.programme.follow_up[progress - 2 :]:
            await self._sleep_until(opened_at + state.day(survey.after_days), f"survey {survey.code}")
            if inp.feed:
                await self._recorded_feed("record_sample_survey", self._ref(inp.actor), inp.feed, survey=survey.code)
            progress += 1
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new(progress)
        return progress

    # ----------------------------------------------------------- reminders
    def _reminder_moments(self) -> list[ReminderDue]:
        return reminders_due(self._input().programme, self._state_now())

    def _pass_over_missed_reminders(self) -> None:
        """After an extension, "7 days before" moments already past would only repeat what was sent: skip them."""
        now = workflow.now()
        for due in self._pending_reminders():
            if due.deadline is not None and due.at <= now:
                self._input().reminded.append(reminder_id(due))

    # ------------------------------------------------------------- updates
    @workflow.update
    async def close_phase(self, req: ClosePhase) -> AdminOutcome:
        try:
            self._state = decide_close_phase(self._state_now(), req.phase)
        except CommandRefused as exc:
            raise refusal(exc) from None
        self._close_reason = f"{req.reason} (by {req.actor})"
        self._wake = True
        return AdminOutcome(outcome="closing", phase=req.phase)

    @close_phase.validator
    def _validate_close_phase(self, req: ClosePhase) -> None:
        check_recordable(req.model_dump())
        decide_close_phase(self._state_now(), req.phase)

    @workflow.update
    async def extend_deadline(self, req: ExtendDeadline) -> AdminOutcome:
        inp = self._input()
        try:
            state, event = decide_extend_deadline(
                self._state_now(), inp.programme, req.phase, req.new_deadline, req.reason
            )
        except CommandRefused as exc:
            raise refusal(exc) from None
        self._state = state
        self._pass_over_missed_reminders()
        self._wake = True
        update = workflow.current_update_info()
        await self._record(f"extend/{update.id if update else req.new_deadline.isoformat()}", event, req.actor)
        return AdminOutcome(outcome="extended", phase=req.phase, deadline=self._deadline())

    @extend_deadline.validator
    def _validate_extend_deadline(self, req: ExtendDeadline) -> None:
        check_recordable(req.model_dump())
        decide_extend_deadline(self._state_now(), self._input().programme, req.phase, req.new_deadline, req.reason)

    @workflow.update
    async def withdraw_participant(self, req: Withdraw) -> AdminOutcome:
        state = self._state_now()
        result: WithdrawalResult = await self._admin_activity(
            WithdrawalActivities.withdraw_participant,
            WithdrawParticipant(
                ref=self._ref(req.actor),
                request_id=request_id(req.participant_id),
                participant_id=req.participant_id,
                reason=req.reason,
                phase=state.phase,
            ),
        )
        return AdminOutcome(outcome="withdrawn", phase=state.phase, replaced_by=result.replaced_by)

    @withdraw_participant.validator
    def _validate_withdraw(self, req: Withdraw) -> None:
        check_recordable(req.model_dump())
        state = self._state_now()
        check_withdrawal_open(None if state.finished else state.phase, req.reason)

    @workflow.update
    async def fill_place(self, req: PlaceFill) -> AdminOutcome:
        state = self._state_now()
        promoted: str = await self._admin_activity(
            FillPlaceActivities.fill_place,
            FillPlace(
                ref=self._ref(req.actor),
                request_id=request_id(req.participant_id or "next"),
                participant_id=req.participant_id,
                phase=state.phase,
            ),
        )
        return AdminOutcome(outcome="promoted", phase=state.phase, promoted=promoted)

    @fill_place.validator
    def _validate_fill_place(self, req: PlaceFill) -> None:
        check_recordable(req.model_dump())
        if not req.reason.strip():
            raise CommandRefused(phrase("filling a place needs a reason"))
        if self._state_now().finished:
            raise CommandRefused(phrase("the cohort has finished"))

    @workflow.update
    async def import_file(self, req: FileImport) -> ImportOutcome:
        outcome: ImportOutcome = await self._admin_activity(
            ImportActivities.import_records,
            ImportRecords(
                ref=self._ref(req.actor),
                kind=req.kind,
                digest=req.digest,
                filename=req.filename,
                accept_partial=req.accept_partial,
                prefecture=req.prefecture,
                plan_id=self._input().plan_id,
                request_id=request_id(req.digest),
            ),
        )
        if req.kind == "nominees" and outcome.status == "applied":
            self._input().counters.candidates += outcome.applied
        return outcome

    @import_file.validator
    def _validate_import_file(self, req: FileImport) -> None:
        check_recordable(req.model_dump())
        state = self._state_now()
        check_import_open(None if state.finished else state.phase, req.kind)

    @workflow.update
    async def close_block(self, req: dict[str, Any]) -> AdminOutcome:
        raise ApplicationError("unreachable: refused by the validator")

    @close_block.validator
    def _refuse_close_block(self, req: dict[str, Any]) -> None:
        raise CommandRefused(
            phrase("this cohort runs the seven-phase form, which has phases, not blocks: use close-phase")
        )

    @workflow.update
    async def extend_block(self, req: dict[str, Any]) -> AdminOutcome:
        raise ApplicationError("unreachable: refused by the validator")

    @extend_block.validator
    def _refuse_extend_block(self, req: dict[str, Any]) -> None:
        raise CommandRefused(
            phrase("this cohort runs the seven-phase form, which has phases, not blocks: use extend-deadline")
        )

    @workflow.query
    def status(self) -> CycleStatus:
        inp, state = self._input(), self._state
        open_phase = None if state is None or state.finished else state
        return CycleStatus(
            cohort_id=inp.cohort_id,
            phase=open_phase.phase if open_phase else None,
            deadline=open_phase.deadline(inp.programme) if open_phase else None,
            counters=inp.counters,
            programme_version=inp.programme.version,
            finished=state is not None and state.finished,
        )

    # ------------------------------------------------------------- helpers
    def _input(self) -> CohortCycleInput:
        return self._inp

    def _state_now(self) -> CycleState:
        if self._state is None:
            raise CommandRefused(phrase("the cohort is still starting"))
        return self._state

    def _deadline(self) -> datetime:
        return self._state_now().deadline(self._input().programme)

    async def _record(self, step: str, event: Event, actor: str | None = None) -> None:
        await self._activity(
            CycleRecordActivities.record_cycle_event,
            RecordCycleEvent(
                ref=self._ref(actor or self._input().actor), step=step, type=event.TYPE, data=event.payload()
            ),
        )

    async def _sleep_until(self, moment: datetime, summary: str) -> None:
        seconds = (moment - workflow.now()).total_seconds()
        if seconds > 0:
            await workflow.sleep(seconds, summary=summary)

    async def _await_deadline(self, progress: int) -> None:
        """Wait for the deadline, which extensions may move, or an early close."""
        while not self._state_now().closed_early:
            remaining = (self._deadline() - workflow.now()).total_seconds()
            if remaining <= 0:
                return
            self._wake = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake, timeout=remaining, timeout_summary=f"{self._state_now().phase} deadline"
                )
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new(progress)

    async def _continue_as_new(self, progress: int) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._reminders_sent()
        inp = self._input()
        workflow.continue_as_new(inp.model_copy(update={"state": self._state_now(), "progress": progress}))
