"""(b) The naive design: one workflow per participant, on the same Temporal dev server.

Each participant's workflow performs that participant's steps of the same
programme as activities, one per step (nominate, record online study, record the
selection decision, place, record attendance, report back, answer each survey,
award credits), each appending that participant's event(s) to the real event
store with an idempotency key, and sleeps on the same compressed timeline
between phases. Timers aim at the same absolute programme days for everyone, so
a workflow started late does not stretch the programme.

Selection ranks all candidates, which no single participant's workflow can do:
it is computed once from the same sample facts with the domain's ``select``
(inside the timed run), and each workflow's selection step records its own
participant's part of that decision. The outcome equals the cohort cycle's for
the same seed, which the benchmark checks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client, WorkflowHandle
    from temporalio.worker import Worker

    from bench.memory import PeakRss
    from cohortflow import sample
    from cohortflow.domain.completion import completers, credit_awards
    from cohortflow.domain.events import (
        Event,
        FieldAttendanceRecorded,
        Metadata,
        OnlineStudyRecorded,
        ParticipantCompleted,
        ReturnReportSubmitted,
        SelectionDecided,
        SurveyResponded,
    )
    from cohortflow.domain.facts import CohortFacts
    from cohortflow.domain.nomination import NomineeRow, nominate
    from cohortflow.domain.placement import allocate
    from cohortflow.domain.programme import Programme
    from cohortflow.domain.selection import Candidate, SelectionOutcome, select
    from cohortflow.store.eventstore import EventStore
    from cohortflow.store.records import NewEvent
    from cohortflow.worker import connect_client

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=20)
START_CONCURRENCY = 50
RESULT_CONCURRENCY = 200
PROGRESS_EVERY = 15.0


# ------------------------------------------------------------------ models
class NaiveTimeline(BaseModel):
    """Programme days of each step, from the programme template; day 0 is ``started_at``."""

    started_at: datetime
    day_seconds: float
    online_study: int
    selection: int
    field_study: int
    return_to_post: int
    follow_up: int
    completion: int
    surveys: list[tuple[str, int]]


class NaiveParticipantInput(BaseModel):
    cohort_id: str
    index: int
    prefecture_code: str
    prefecture_name: str
    seed: int
    timeline: NaiveTimeline


class ParticipantStep(BaseModel):
    cohort_id: str
    workflow_id: str
    index: int
    prefecture_code: str
    prefecture_name: str
    seed: int
    step: str
    survey: str | None = None

    @property
    def participant_id(self) -> str:
        return sample.participant_id(self.index)

    @property
    def stream_id(self) -> str:
        return f"participant-{self.cohort_id}-{self.participant_id}"


class SelectionStepResult(BaseModel):
    selected: bool
    batch_ends_day: int = 0
    """Day, counted from the field-study phase's opening, on which the participant's batch ends."""


class CompletionStepResult(BaseModel):
    completed: bool
    credit_hours: float


class NaiveParticipantResult(BaseModel):
    participant_id: str
    selected: bool
    completed: bool
    credit_hours: float


# ---------------------------------------------------------------- workflow
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


# -------------------------------------------------------------- activities
class NaiveActivities:
    def __init__(self, store: EventStore, programme: Programme, outcome: SelectionOutcome) -> None:
        self.store = store
        self.programme = programme
        self.outcome = outcome
        self.selected = set(outcome.selected)
        self.waiting = set(outcome.waiting_list)
        self.placements = {p.participant_id: p for p in allocate(outcome.selected, programme.field_study)}
        self.batches = {(s.code, b.code): b for s in programme.field_study.sites for b in s.batches}

    async def _append(self, req: ParticipantStep, events: Sequence[Event]) -> None:
        if not events:
            return
        metadata = Metadata(
            actor="bench:naive",
            workflow_id=req.workflow_id,
            programme_id=self.programme.id,
            programme_version=self.programme.version,
            step=req.step,
            correlation_id=req.cohort_id,
        ).model_dump()
        await self.store.append(
            req.stream_id,
            [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
            idempotency_key=f"{req.workflow_id}/{req.step}",
        )

    @activity.defn(name="naive_nominate_participant")
    async def nominate_participant(self, req: ParticipantStep) -> None:
        person = sample.nominee(req.index, req.prefecture_code, req.prefecture_name, req.seed)
        await self._append(req, nominate(self.programme, [NomineeRow(row=req.index + 1, **vars(person))]))

    @activity.defn(name="naive_record_online_study")
    async def record_online_study(self, req: ParticipantStep) -> None:
        hours, delivered = sample.online_study(req.participant_id, req.seed)
        await self._append(
            req, [OnlineStudyRecorded(participant_id=req.participant_id, hours=hours, deliverables=delivered)]
        )

    @activity.defn(name="naive_record_selection")
    async def record_selection(self, req: ParticipantStep) -> SelectionStepResult:
        pid = req.participant_id
        rule = self.programme.selection
        decision = SelectionDecided(
            rule_version=rule.version,
            target=rule.target,
            input_digest=self.outcome.input_digest,
            eligible=self.outcome.eligible,
            selected=[pid] if pid in self.selected else [],
            waiting_list=[pid] if pid in self.waiting else [],
        )
        await self._append(req, [decision])
        placement = self.placements.get(pid)
        if placement is None:
            return SelectionStepResult(selected=False)
        batch = self.batches[(placement.site, placement.batch)]
        return SelectionStepResult(selected=True, batch_ends_day=batch.start_day + batch.days)

    @activity.defn(name="naive_assign_placement")
    async def assign_placement(self, req: ParticipantStep) -> None:
        await self._append(req, [self.placements[req.participant_id]])

    @activity.defn(name="naive_record_attendance")
    async def record_attendance(self, req: ParticipantStep) -> None:
        placement = self.placements[req.participant_id]
        days = self.batches[(placement.site, placement.batch)].days
        present = sample.attendance(req.participant_id, req.seed, days)
        await self._append(
            req,
            [
                FieldAttendanceRecorded(
                    participant_id=req.participant_id,
                    site=placement.site,
                    batch=placement.batch,
                    days_present=present,
                    days_total=days,
                )
            ],
        )

    @activity.defn(name="naive_record_return_report")
    async def record_return_report(self, req: ParticipantStep) -> None:
        if sample.returns_report(req.participant_id, req.seed):
            await self._append(req, [ReturnReportSubmitted(participant_id=req.participant_id)])

    @activity.defn(name="naive_record_survey")
    async def record_survey(self, req: ParticipantStep) -> None:
        assert req.survey is not None
        answer = sample.survey_answer(req.participant_id, req.seed, req.survey)
        if answer is not None:
            await self._append(
                req, [SurveyResponded(participant_id=req.participant_id, survey=req.survey, satisfaction=answer)]
            )

    @activity.defn(name="naive_complete_participant")
    async def complete_participant(self, req: ParticipantStep) -> CompletionStepResult:
        """Fold the participant's own stream and award what it earned, as the cohort's completion does."""
        facts = CohortFacts()
        async for event in self.store.read_stream(req.stream_id):
            facts.apply(event)
        awards = list(credit_awards(facts, self.programme))
        done = bool(completers(facts, self.programme))
        events: list[Event] = [*awards, *([ParticipantCompleted(participant_id=req.participant_id)] if done else [])]
        await self._append(req, events)
        return CompletionStepResult(completed=done, credit_hours=sum(a.hours for a in awards))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.nominate_participant,
            self.record_online_study,
            self.record_selection,
            self.assign_placement,
            self.record_attendance,
            self.record_return_report,
            self.record_survey,
            self.complete_participant,
        ]


# ------------------------------------------------------------------ runner
@dataclass(frozen=True)
class NaiveResult:
    participants: int
    selected: int
    completed: int
    credit_hours: float
    failed: int
    seconds: float
    """From the first start to the last completion."""
    start_seconds: float
    """How long starting every workflow took."""
    events: int
    peak_rss: int
    baseline_rss: int


def selection_plan(programme: Programme, seed: int) -> SelectionOutcome:
    """The cohort-level ranking the per-participant design still needs, from the same sample facts."""
    candidates = []
    for person in sample.nominees(programme, seed):
        hours, delivered = sample.online_study(person.participant_id, seed)
        candidates.append(Candidate(person.participant_id, person.prefecture_code, hours, tuple(delivered)))
    return select(candidates, programme)


def timeline(programme: Programme, started_at: datetime, day_seconds: float) -> NaiveTimeline:
    return NaiveTimeline(
        started_at=started_at,
        day_seconds=day_seconds,
        online_study=programme.phase("online_study").start_day,
        selection=programme.phase("selection").start_day,
        field_study=programme.phase("field_study").start_day,
        return_to_post=programme.phase("return_to_post").start_day,
        follow_up=programme.phase("follow_up").start_day,
        completion=programme.phase("completion").start_day,
        surveys=[(s.code, s.after_days) for s in programme.follow_up],
    )


async def _count_events(store: EventStore, cohort_id: str) -> int:
    total = 0
    async for event in store.read_all():
        total += event.stream_id.startswith(f"participant-{cohort_id}-")
    return total


async def bench_naive(
    database_url: str,
    temporal_address: str,
    *,
    participants: int,
    selected: int,
    day_seconds: float,
    seed: int,
    say: Callable[[str], None],
) -> NaiveResult:
    programme = sample.sample_programme(participants, selected)
    cohort_id = f"naive-{uuid.uuid4().hex[:6]}"
    task_queue = f"bench-naive-{uuid.uuid4().hex[:8]}"
    store = await EventStore.connect(database_url, max_size=8)
    client: Client = await connect_client(temporal_address)
    try:
        with PeakRss() as rss:
            started = time.perf_counter()
            outcome = selection_plan(programme, seed)
            acts = NaiveActivities(store, programme, outcome)
            worker = Worker(
                client,
                task_queue=task_queue,
                workflows=[NaiveParticipantWorkflow],
                activities=acts.all(),
                workflow_failure_exception_types=[workflow.NondeterminismError],
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            async with worker:
                line = timeline(programme, datetime.now(UTC), day_seconds)
                people = sample.nominees(programme, seed)
                names = dict(sample.PREFECTURES)
                gate = asyncio.Semaphore(START_CONCURRENCY)

                async def start(index: int, prefecture_code: str) -> WorkflowHandle[Any, NaiveParticipantResult]:
                    async with gate:
                        return await client.start_workflow(
                            NaiveParticipantWorkflow.run,
                            NaiveParticipantInput(
                                cohort_id=cohort_id,
                                index=index,
                                prefecture_code=prefecture_code,
                                prefecture_name=names[prefecture_code],
                                seed=seed,
                                timeline=line,
                            ),
                            id=f"{cohort_id}-{sample.participant_id(index)}",
                            task_queue=task_queue,
                        )

                handles = await asyncio.gather(*(start(i, p.prefecture_code) for i, p in enumerate(people, start=1)))
                start_seconds = time.perf_counter() - started
                say(f"  naive: {len(handles):,} workflows started in {start_seconds:.1f} s")

                results: list[NaiveParticipantResult] = []
                failed = 0
                waiting = asyncio.Semaphore(RESULT_CONCURRENCY)

                async def finish(handle: WorkflowHandle[Any, NaiveParticipantResult]) -> None:
                    nonlocal failed
                    async with waiting:
                        try:
                            results.append(await handle.result())
                        except Exception:
                            failed += 1

                async def report() -> None:
                    while True:
                        await asyncio.sleep(PROGRESS_EVERY)
                        say(f"  naive: {len(results) + failed:,}/{len(handles):,} participants' workflows done")

                reporter = asyncio.create_task(report())
                try:
                    await asyncio.gather(*(finish(h) for h in handles))
                finally:
                    reporter.cancel()
                seconds = time.perf_counter() - started
        events = await _count_events(store, cohort_id)
    finally:
        await store.close()
    return NaiveResult(
        participants=participants,
        selected=sum(r.selected for r in results),
        completed=sum(r.completed for r in results),
        credit_hours=sum(r.credit_hours for r in results),
        failed=failed,
        seconds=seconds,
        start_seconds=start_seconds,
        events=events,
        peak_rss=rss.peak,
        baseline_rss=rss.baseline,
    )
