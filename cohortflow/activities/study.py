"""Online study (线上研修): hours and deliverables recorded per participant."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.demo import sample
from cohortflow.domain.events import OnlineStudyRecorded


class RecordSampleStudy(BaseModel):
    ref: CohortRef
    seed: int


class StudyActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def record_sample_online_study(self, req: RecordSampleStudy) -> int:
        """Record the sample population's study; returns how many records were appended."""
        programme = await self.programme(req.ref)

        async def decide() -> list[OnlineStudyRecorded]:
            facts = await self.facts(req.ref)
            events = []
            for pid, p in facts.participants.items():
                if not p.withdrawn:
                    hours, delivered = sample.online_study(pid, req.seed)
                    events.append(OnlineStudyRecorded(participant_id=pid, hours=hours, deliverables=delivered))
            return events

        return len(await self.decide_once(req.ref, "online_study/records", decide, programme=programme))
