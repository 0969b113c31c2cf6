"""Field study: placements across sites and batches, attendance per batch."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.demo import sample
from cohortflow.domain.events import FieldAttendanceRecorded, FieldBatchCompleted, FieldPlacementAssigned
from cohortflow.domain.placement import allocate


class AssignPlacements(BaseModel):
    ref: CohortRef


class RecordBatchAttendance(BaseModel):
    ref: CohortRef
    site: str
    batch: str
    days: int
    seed: int | None = None
    """With a seed, sample attendance is recorded first; otherwise imports supplied it."""


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
        for p in await self.decide_once(req.ref, "field_study/placements", decide, programme=programme):
            assert isinstance(p, FieldPlacementAssigned)
            per_site[p.site] = per_site.get(p.site, 0) + 1
        return per_site

    @activity.defn
    @refusals_are_final
    async def record_batch_attendance(self, req: RecordBatchAttendance) -> BatchResult:
        """Close a batch: record (sample) attendance and who attended enough."""
        programme = await self.programme(req.ref)

        async def decide() -> list[FieldAttendanceRecorded | FieldBatchCompleted]:
            facts = await self.facts(req.ref)
            members = [
                p
                for p in facts.participants.values()
                if p.site == req.site
                and p.batch == req.batch
                and not p.withdrawn
                and p.participant_id in facts.selected
            ]
            events: list[FieldAttendanceRecorded | FieldBatchCompleted] = []
            attended = 0
            for p in members:
                present, total = p.days_present, p.days_total or req.days
                if req.seed is not None:
                    present = sample.attendance(p.participant_id, req.seed, req.days)
                    events.append(
                        FieldAttendanceRecorded(
                            participant_id=p.participant_id,
                            site=req.site,
                            batch=req.batch,
                            days_present=present,
                            days_total=req.days,
                        )
                    )
                if total and present / total >= programme.field_study.min_attendance_ratio:
                    attended += 1
            closing = FieldBatchCompleted(site=req.site, batch=req.batch, participants=len(members), attended=attended)
            return [*events, closing]

        step = f"field_study/{req.site}/{req.batch}/attendance"
        closing = (await self.decide_once(req.ref, step, decide, programme=programme))[-1]
        assert isinstance(closing, FieldBatchCompleted)
        return BatchResult(site=req.site, batch=req.batch, participants=closing.participants, attended=closing.attended)
