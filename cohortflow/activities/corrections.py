"""Correcting one recorded fact, with the administrator's reason."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.corrections import decide_correction
from cohortflow.domain.events import CorrectableField, FactCorrected


class CorrectFact(BaseModel):
    ref: CohortRef
    request_id: str
    participant_id: str
    field: CorrectableField
    value: str
    reason: str


class CorrectionActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def correct_fact(self, req: CorrectFact) -> FactCorrected:
        programme = await self.pinned(req.ref)

        async def decide() -> list[FactCorrected]:
            facts = await self.facts(req.ref)
            return [decide_correction(facts, programme, req.participant_id, req.field, req.value, req.reason)]

        (corrected,) = await self.decide_once(req.ref, f"correct/{req.request_id}", decide, programme=programme)
        assert isinstance(corrected, FactCorrected)
        return corrected
