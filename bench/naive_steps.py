"""The naive design's per-participant steps: input models and one activity per step.

Kept apart from the workflow so the sandbox, which re-imports a workflow's own
module for every run, imports these once and passes them through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from cohortflow.demo import sample
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
from cohortflow.domain.nomination import nominate
from cohortflow.domain.placement import allocate
from cohortflow.domain.programme import Programme
from cohortflow.domain.selection import SelectionOutcome
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent


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


class NaiveActivities:
    def __init__(self, store: EventStore, programme: Programme, outcome: SelectionOutcome) -> None:
        self.store = store
        self.programme = programme
        self.outcome = outcome
        self.selected = set(outcome.selected)
        self.waiting = set(outcome.waiting_list)
        self.placements = {p.participant_id: p for p in allocate(outcome.selected, programme.field_study)}
        self.batches = {(s.code, b.code): b for s in programme.field_study.sites for b in s.batches}
        self.steps_done = 0

    async def _append(self, req: ParticipantStep, events: Sequence[Event]) -> None:
        """Every step ends here, whether or not it has anything to record."""
        self.steps_done += 1
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
        await self._append(req, nominate(self.programme, [person], keys=await self.store.person_keys()))

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
        reported = sample.returns_report(req.participant_id, req.seed)
        await self._append(req, [ReturnReportSubmitted(participant_id=req.participant_id)] if reported else [])

    @activity.defn(name="naive_record_survey")
    async def record_survey(self, req: ParticipantStep) -> None:
        assert req.survey is not None
        answer = sample.survey_answer(req.participant_id, req.seed, req.survey)
        events = (
            []
            if answer is None
            else [SurveyResponded(participant_id=req.participant_id, survey=req.survey, satisfaction=answer)]
        )
        await self._append(req, events)

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
