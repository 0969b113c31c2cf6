"""The naive design's workflow: one per participant, that participant's steps in programme order.

Deliberately small: the sandbox re-imports this module for every workflow run,
so its models and activities live in ``bench.naive_steps`` and pass through.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from bench.naive_steps import (
        CompletionStepResult,
        NaiveActivities,
        NaiveParticipantInput,
        NaiveParticipantResult,
        ParticipantStep,
        SelectionStepResult,
    )

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=20)


@workflow.defn
class NaiveParticipantWorkflow:
    @workflow.run
    async def run(self, inp: NaiveParticipantInput) -> NaiveParticipantResult:
        t = inp.timeline
        base = ParticipantStep(
            cohort_id=inp.cohort_id,
            workflow_id=workflow.info().workflow_id,
            index=inp.index,
            prefecture_code=inp.prefecture_code,
            prefecture_name=inp.prefecture_name,
            seed=inp.seed,
            step="",
        )

        async def act(fn: Any, step: str, survey: str | None = None) -> Any:
            arg = base.model_copy(update={"step": step, "survey": survey})
            return await workflow.execute_activity_method(
                fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY
            )

        async def until(day: int) -> None:
            seconds = (t.started_at + timedelta(seconds=day * t.day_seconds) - workflow.now()).total_seconds()
            if seconds > 0:
                await workflow.sleep(seconds)

        await act(NaiveActivities.nominate_participant, "nomination")
        await until(t.online_study)
        await act(NaiveActivities.record_online_study, "online_study")
        await until(t.selection)
        chosen: SelectionStepResult = await act(NaiveActivities.record_selection, "selection")
        if chosen.selected:
            await until(t.field_study)
            await act(NaiveActivities.assign_placement, "field_study/placement")
            await until(t.field_study + chosen.batch_ends_day)
            await act(NaiveActivities.record_attendance, "field_study/attendance")
            await until(t.return_to_post)
            await act(NaiveActivities.record_return_report, "return_to_post/report")
            for code, after_days in t.surveys:
                await until(t.follow_up + after_days)
                await act(NaiveActivities.record_survey, f"follow_up/{code}", code)
        await until(t.completion)
        done: CompletionStepResult = await act(NaiveActivities.complete_participant, "completion")
        return NaiveParticipantResult(
            participant_id=base.participant_id,
            selected=chosen.selected,
            completed=done.completed,
            credit_hours=done.credit_hours,
        )
