"""Completion: decide who completed and award credits, each naming its sources."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.completion import completers, credit_awards
from cohortflow.domain.events import CohortCompleted, CreditAwarded, Event, ParticipantCompleted


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

        async def decide() -> list[Event]:
            facts = await self.facts(req.ref)
            awards = list(credit_awards(facts, programme))
            done = completers(facts, programme)
            hours = round(sum(a.hours for a in awards), 6)
            events: list[Event] = [*awards, *(ParticipantCompleted(participant_id=pid) for pid in done)]
            return [*events, CohortCompleted(completed=len(done), credit_hours=hours)]

        events = await self.decide_once(req.ref, "completion/credits", decide, programme=programme)
        closing = events[-1]
        assert isinstance(closing, CohortCompleted)
        entries = sum(isinstance(e, CreditAwarded) for e in events)
        return CompletionResult(completed=closing.completed, credit_entries=entries, credit_hours=closing.credit_hours)
