"""Selection (线下遴选): rank by the declared rule, record the decision and its inputs."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.events import SelectionDecided
from cohortflow.domain.selection import Candidate, select


class SelectParticipants(BaseModel):
    ref: CohortRef


class SelectionResult(BaseModel):
    eligible: int
    selected: int
    waiting_list: int
    input_digest: str


class SelectionActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def select_participants(self, req: SelectParticipants) -> SelectionResult:
        programme = await self.programme(req.ref)
        facts = await self.facts(req.ref)
        candidates = [
            Candidate(p.participant_id, p.prefecture_code, p.hours, p.deliverables)
            for p in facts.participants.values()
            if not p.withdrawn
        ]
        outcome = select(candidates, programme)
        event = SelectionDecided(
            rule_version=programme.selection.version,
            target=programme.selection.target,
            input_digest=outcome.input_digest,
            eligible=outcome.eligible,
            selected=list(outcome.selected),
            waiting_list=list(outcome.waiting_list),
        )
        await self.append(req.ref, "selection/decision", [event], programme=programme)
        return SelectionResult(
            eligible=outcome.eligible,
            selected=len(outcome.selected),
            waiting_list=len(outcome.waiting_list),
            input_digest=outcome.input_digest,
        )
