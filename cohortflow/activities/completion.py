"""Completion: decide who completed and award credits, each naming its sources."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.completion import completers, credit_awards
from cohortflow.domain.events import CohortCompleted, Event, ParticipantCompleted


class CompleteCohort(BaseModel):
    ref: CohortRef


class CompletionResult(BaseModel):
    completed: int
    credit_entries: int
    credit_hours: float


class CompletionActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def complete_cohort(self, req: CompleteCohort) -> CompletionResult:
        programme = await self.programme(req.ref)
        facts = await self.facts(req.ref)
        awards = list(credit_awards(facts, programme))
        done = completers(facts, programme)
        hours = round(sum(a.hours for a in awards), 6)
        events: list[Event] = [*awards, *(ParticipantCompleted(participant_id=pid) for pid in done)]
        events.append(CohortCompleted(completed=len(done), credit_hours=hours))
        await self.append(req.ref, "completion/credits", events, programme=programme)
        return CompletionResult(completed=len(done), credit_entries=len(awards), credit_hours=hours)
