"""Filling an open place from the waiting list, on an administrator's request."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.cycle import decide_fill_place
from cohortflow.domain.events import WaitingListPromoted
from cohortflow.domain.programme import PhaseKind


class FillPlace(BaseModel):
    ref: CohortRef
    request_id: str
    """The admin request's id (the Update id): the idempotency step of this promotion."""
    participant_id: str | None
    phase: PhaseKind


class FillPlaceActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def fill_place(self, req: FillPlace) -> str:
        """Promote a waiting candidate into an open place; returns who was promoted."""
        programme = await self.programme(req.ref)

        async def decide() -> list[WaitingListPromoted]:
            facts = await self.facts(req.ref)
            return [decide_fill_place(facts, programme, req.phase, req.participant_id)]

        (promoted,) = await self.decide_once(req.ref, f"fill/{req.request_id}", decide, programme=programme)
        assert isinstance(promoted, WaitingListPromoted)
        return promoted.participant_id
