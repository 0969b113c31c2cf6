"""Field study: placements across sites and batches, attendance per batch."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.events import FieldBatchCompleted, FieldPlacementAssigned
from cohortflow.domain.placement import allocate

PLACEMENTS_STEP = "field_study/placements"
"""The business step that records every field-study placement, in one batch."""


class AssignPlacements(BaseModel):
    ref: CohortRef


class RecordBatchAttendance(BaseModel):
    ref: CohortRef
    site: str
    batch: str
    days: int


class BatchResult(BaseModel):
    site: str
    batch: str
    participants: int
    attended: int


class FieldStudyActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def assign_field_placements(self, req: AssignPlacements) -> dict[str, int]:
        """Place everyone selected; returns how many go to each site."""
        programme = await self.programme(req.ref)

        async def decide() -> list[FieldPlacementAssigned]:
            return allocate(list((await self.facts(req.ref)).selected), programme.field_study)

        per_site: dict[str, int] = {}
        for p in await self.decide_once(req.ref, PLACEMENTS_STEP, decide, programme=programme):
            assert isinstance(p, FieldPlacementAssigned)
            per_site[p.site] = per_site.get(p.site, 0) + 1
        return per_site

    @activity.defn
    @refusals_are_final
    async def record_batch_attendance(self, req: RecordBatchAttendance) -> BatchResult:
        """Close a batch: record who attended enough of it, from the attendance imported."""
        programme = await self.programme(req.ref)

        async def decide() -> list[FieldBatchCompleted]:
            facts = await self.facts(req.ref)
            members = [
                p
                for p in facts.participants.values()
                if p.site == req.site
                and p.batch == req.batch
                and not p.withdrawn
                and p.participant_id in facts.selected
            ]
            ratio = programme.field_study.min_attendance_ratio
            attended = sum(
                1 for p in members if (total := p.days_total or req.days) and p.days_present / total >= ratio
            )
            return [FieldBatchCompleted(site=req.site, batch=req.batch, participants=len(members), attended=attended)]

        step = f"field_study/{req.site}/{req.batch}/attendance"
        closing = (await self.decide_once(req.ref, step, decide, programme=programme))[-1]
        assert isinstance(closing, FieldBatchCompleted)
        return BatchResult(site=req.site, batch=req.batch, participants=closing.participants, attended=closing.attended)
