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

        async def decide() -> list[SelectionDecided]:
            facts = await self.facts(req.ref)
            candidates = [
                Candidate(p.participant_id, p.prefecture_code, p.hours, p.deliverables)
                for p in facts.participants.values()
                if not p.withdrawn
            ]
            outcome = select(candidates, programme)
            return [
                SelectionDecided(
                    rule_version=programme.selection.version,
                    target=programme.selection.target,
                    input_digest=outcome.input_digest,
                    eligible=outcome.eligible,
                    selected=list(outcome.selected),
                    waiting_list=list(outcome.waiting_list),
                )
            ]

        (decision,) = await self.decide_once(req.ref, "selection/decision", decide, programme=programme)
        assert isinstance(decision, SelectionDecided)
        return SelectionResult(
            eligible=decision.eligible,
            selected=len(decision.selected),
            waiting_list=len(decision.waiting_list),
            input_digest=decision.input_digest,
        )
