"""Recognition of external study (学分认定) in the credit bank: a claim submitted, then decided by a reviewer.

Both steps append to the person's stream at the version read, like every bank
change (:mod:`cohortflow.activities.credit_bank`); an approval records the
decision and the recognised credit in one append.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.activities.credit_bank import WORKFLOW_ID, BankActivities, BankRequest
from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.recognition import Decision, Reviewer
from cohortflow.domain.credit_bank.registry import BankRefused, recognition_decision, recognition_request
from cohortflow.domain.credit_bank.review import lock_problem
from cohortflow.domain.events import Event, RecognitionRequested
from cohortflow.domain.phrases import phrase


class RecognitionClaim(BankRequest):
    person_key: str
    title: str
    hours: float
    level: CreditLevel
    earned_on: date
    days: int = Field(1, ge=1)
    evidence: str = ""


class RecognitionDecision(BankRequest):
    person_key: str
    claim_id: str
    decision: Decision
    reason: str = ""
    reviewer_level: CreditLevel
    reviewer_unit: str


class RecognitionActivities(BankActivities):
    @activity.defn
    @refusals_are_final
    async def request_recognition(self, req: RecognitionClaim) -> RecognitionRequested:
        record, version = await self._person(req.person_key)
        if record.facts is None:
            raise BankRefused([phrase("person {person_key} is not registered", person_key=req.person_key)])
        claim = recognition_request(
            record.facts,
            f"claim-{req.request_id}",
            title=req.title,
            hours=req.hours,
            level=req.level,
            earned_on=req.earned_on,
            days=req.days,
            evidence=req.evidence,
            today=req.today,
        )
        change: dict[str, list[Event]] = {req.person_key: [claim]}
        await self._append(req, f"recognition/{claim.claim_id}", change, {req.person_key: record}, version)
        return claim

    @activity.defn
    @refusals_are_final
    async def decide_recognition(self, req: RecognitionDecision) -> list[str]:
        """Returns the types of the events recorded: the decision, and the credit when approved (not into a year
        its district's review has locked)."""
        earlier = await self.store.recorded(f"{WORKFLOW_ID}/{req.request_id}/{req.person_key}")
        if earlier is not None:  # this request's decision committed in an attempt whose answer was lost
            return [e.type for e in earlier]
        record, version = await self._person(req.person_key)
        reviewer = Reviewer(req.actor, req.reviewer_level, req.reviewer_unit)
        events = recognition_decision(record, req.claim_id, reviewer, req.decision, req.reason)
        claim = record.claims[req.claim_id][0]
        if req.decision == "approved" and record.facts is not None:
            locks = await self._locks({(record.facts.county_code, claim.earned_on.year)})
            locked = lock_problem(locks, record.facts.county_code, claim.earned_on, reversing=False, approver=None)
            if locked:
                raise BankRefused([phrase("claim {claim_id}, {problem}", claim_id=req.claim_id, problem=locked)])
        change = {req.person_key: events}
        await self._append(req, f"recognition/{req.claim_id}/decided", change, {req.person_key: record}, version)
        return [e.TYPE for e in events]
