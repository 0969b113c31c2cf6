"""Return to post (返岗实践) reports and follow-up surveys (训后跟踪)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.demo import sample
from cohortflow.domain.events import ReturnReportSubmitted, SurveyResponded


class RecordSampleReports(BaseModel):
    ref: CohortRef
    seed: int


class RecordSampleSurvey(BaseModel):
    ref: CohortRef
    survey: str
    seed: int


class FollowUpActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def record_sample_return_reports(self, req: RecordSampleReports) -> int:
        programme = await self.programme(req.ref)

        async def decide() -> list[ReturnReportSubmitted]:
            return [
                ReturnReportSubmitted(participant_id=p.participant_id)
                for p in (await self.facts(req.ref)).active_selected()
                if not p.withdrawn and sample.returns_report(p.participant_id, req.seed)
            ]

        return len(await self.decide_once(req.ref, "return_to_post/reports", decide, programme=programme))

    @activity.defn
    @refusals_are_final
    async def record_sample_survey(self, req: RecordSampleSurvey) -> int:
        programme = await self.programme(req.ref)

        async def decide() -> list[SurveyResponded]:
            events = []
            for p in (await self.facts(req.ref)).active_selected():
                answer = sample.survey_answer(p.participant_id, req.seed, req.survey)
                if not p.withdrawn and answer is not None:
                    events.append(
                        SurveyResponded(participant_id=p.participant_id, survey=req.survey, satisfaction=answer)
                    )
            return events

        step = f"follow_up/{req.survey}/responses"
        return len(await self.decide_once(req.ref, step, decide, programme=programme))
