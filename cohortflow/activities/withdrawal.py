"""Withdrawing a participant, refilling the place from the waiting list if allowed."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.cycle import decide_withdrawal
from cohortflow.domain.events import ParticipantWithdrawn, WaitingListPromoted
from cohortflow.domain.programme import PhaseKind


class WithdrawParticipant(BaseModel):
    ref: CohortRef
    request_id: str
    """The admin request's id (the Update id): the idempotency step of this withdrawal."""
    participant_id: str
    reason: str
    phase: PhaseKind


class WithdrawalResult(BaseModel):
    participant_id: str
    replaced_by: str | None


class WithdrawalActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def withdraw_participant(self, req: WithdrawParticipant) -> WithdrawalResult:
        programme = await self.programme(req.ref)

        async def decide() -> list[ParticipantWithdrawn | WaitingListPromoted]:
            facts = await self.facts(req.ref)
            return decide_withdrawal(facts, programme, req.phase, req.participant_id, req.reason)

        events = await self.decide_once(req.ref, f"withdraw/{req.request_id}", decide, programme=programme)
        promoted = next((e.participant_id for e in events if isinstance(e, WaitingListPromoted)), None)
        return WithdrawalResult(participant_id=req.participant_id, replaced_by=promoted)
