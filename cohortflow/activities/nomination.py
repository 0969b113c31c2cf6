"""Nomination: validate every nominee row and record them in one transaction."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.demo import sample
from cohortflow.domain.events import CandidateNominated
from cohortflow.domain.nomination import nominate


class ImportSampleNominees(BaseModel):
    ref: CohortRef
    seed: int


class NominationResult(BaseModel):
    nominated: int
    by_prefecture: dict[str, int]
    duplicate: bool


class NominationActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def import_sample_nominees(self, req: ImportSampleNominees) -> NominationResult:
        """Nominate the deterministic sample population; all rows or none."""
        programme = await self.programme(req.ref)
        decided = False

        async def decide() -> list[CandidateNominated]:
            nonlocal decided
            decided = True
            return nominate(programme, sample.nominees(programme, req.seed))

        events = await self.decide_once(req.ref, "nomination/import", decide, programme=programme)
        counts: dict[str, int] = {}
        for e in events:
            assert isinstance(e, CandidateNominated)
            counts[e.prefecture_code] = counts.get(e.prefecture_code, 0) + 1
        return NominationResult(nominated=len(events), by_prefecture=counts, duplicate=not decided)
