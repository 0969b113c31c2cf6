"""The credit bank (``credit-bank``): one long-lived workflow that applies the bank's changes one at a time.

People files, credits files, corrections, reversals and recognition claims and decisions arrive as Updates.
Applying them one at a time means two changes to the same person never race
(the appends would also refuse a stale version, but a file of 50,000 rows would
then be retried whole). The workflow holds no state of its own beyond the lock:
the people and their entries are in their streams. It continues as new when
the server suggests it, once no Update is in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.credit_bank import (
        BankActivities,
        BankOutcome,
        BankRequest,
        CreditReversal,
        CreditsImport,
        PeopleImport,
        PersonCorrection,
        ReversalsImport,
        Reversed,
    )
    from cohortflow.activities.recognition import RecognitionActivities, RecognitionClaim, RecognitionDecision
    from cohortflow.domain.credit_bank.people import PersonFacts
    from cohortflow.domain.cycle import check_recordable
    from cohortflow.domain.events import RecognitionRequested
    from cohortflow.workflows.cycle_support import refusals_answered
    from cohortflow.workflows.options import run_activity

Request = TypeVar("Request", bound=BankRequest)


class CreditBankInput(BaseModel):
    """Nothing yet: a model, so that a field can be added without breaking the running bank."""


@workflow.defn
class CreditBankWorkflow:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, inp: CreditBankInput) -> None:
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(CreditBankInput())

    @workflow.update
    async def import_people(self, req: PeopleImport) -> BankOutcome:
        outcome: BankOutcome = await self._apply(BankActivities.import_people, req)
        return outcome

    @workflow.update
    async def import_credits(self, req: CreditsImport) -> BankOutcome:
        outcome: BankOutcome = await self._apply(BankActivities.import_bank_credits, req)
        return outcome

    @workflow.update
    async def import_reversals(self, req: ReversalsImport) -> BankOutcome:
        outcome: BankOutcome = await self._apply(BankActivities.import_reversals, req)
        return outcome

    @workflow.update
    async def correct_person(self, req: PersonCorrection) -> PersonFacts:
        facts: PersonFacts = await self._apply(BankActivities.correct_person, req)
        return facts

    @workflow.update
    async def reverse_credit(self, req: CreditReversal) -> Reversed:
        done: Reversed = await self._apply(BankActivities.reverse_credit, req)
        return done

    @workflow.update
    async def request_recognition(self, req: RecognitionClaim) -> RecognitionRequested:
        claim: RecognitionRequested = await self._apply(RecognitionActivities.request_recognition, req)
        return claim

    @workflow.update
    async def decide_recognition(self, req: RecognitionDecision) -> list[str]:
        recorded: list[str] = await self._apply(RecognitionActivities.decide_recognition, req)
        return recorded

    # Text PostgreSQL cannot store is refused before the Update is accepted, as the cohorts' Updates do.
    @import_people.validator
    def _people_recordable(self, req: PeopleImport) -> None:
        check_recordable(req.model_dump())

    @import_credits.validator
    def _credits_recordable(self, req: CreditsImport) -> None:
        check_recordable(req.model_dump())

    @import_reversals.validator
    def _reversals_recordable(self, req: ReversalsImport) -> None:
        check_recordable(req.model_dump())

    @correct_person.validator
    def _correction_recordable(self, req: PersonCorrection) -> None:
        check_recordable(req.model_dump())

    @reverse_credit.validator
    def _reversal_recordable(self, req: CreditReversal) -> None:
        check_recordable(req.model_dump())

    @request_recognition.validator
    def _claim_recordable(self, req: RecognitionClaim) -> None:
        check_recordable(req.model_dump())

    @decide_recognition.validator
    def _decision_recordable(self, req: RecognitionDecision) -> None:
        check_recordable(req.model_dump())

    async def _apply(self, fn: Any, req: Request) -> Any:
        stamped = req.model_copy(update={"request_id": str(workflow.uuid4()), "at": workflow.now()})
        async with self._lock:
            result = await refusals_answered(run_activity(fn, stamped))
        return result
