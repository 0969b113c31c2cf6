"""A district's annual review of its schools' credits (``review-{district}-{year}``), from opening to the lock.

The workflow opens the review with the district's schools, then takes each
school's submission and the reviewer's approval or return as Updates, decided
by the domain's :class:`~cohortflow.domain.credit_bank.review.YearReview` and
recorded by an activity. A week before the deadline and on its morning the
schools still waiting are reminded. When the last school's list is approved the
year is locked and the workflow ends; the bank then takes only reversing
entries for that district's year.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.reviews import (
        OpenReview,
        RecordListStep,
        RemindReview,
        ReviewActivities,
        ReviewRef,
        reminder_moments,
    )
    from cohortflow.domain.credit_bank.review import ReviewRefused, YearReview
    from cohortflow.domain.cycle import check_recordable
    from cohortflow.domain.phrases import phrase
    from cohortflow.workflows.cycle_support import refusals_answered
    from cohortflow.workflows.options import run_activity


Decide = Callable[[YearReview], YearReview]


class AnnualReviewInput(BaseModel):
    district: str = Field(description="The county's (district's) division code")
    year: int
    deadline: date
    actor: str = "admin"


class ListStep(BaseModel):
    school: str
    actor: str = "admin"
    reasons: list[str] = Field(default_factory=list, description="Why a list is returned")


class SchoolState(BaseModel):
    school: str
    state: Literal["open", "submitted", "returned", "approved"]
    reasons: list[str]
    decided_by: str | None


class ReviewStatus(BaseModel):
    district: str
    year: int
    deadline: date
    locked: bool
    approved_by: str | None
    schools: list[SchoolState]


@workflow.defn
class AnnualReviewWorkflow:
    def __init__(self) -> None:
        self._review: YearReview | None = None
        self._inp: AnnualReviewInput | None = None
        self._steps = asyncio.Lock()

    @workflow.run
    async def run(self, inp: AnnualReviewInput) -> ReviewStatus:
        self._inp = inp
        schools: list[str] = await self._activity(
            ReviewActivities.open_review, OpenReview(ref=self._ref(inp.actor), deadline=inp.deadline)
        )
        self._review = YearReview.open(inp.district, inp.year, inp.deadline, schools)
        for occurrence, moment in reminder_moments(inp.deadline):
            wait = (moment - workflow.now()).total_seconds()
            if wait > 0 and await self._locked_within(wait):
                break
            waiting = self._open().waiting()
            if waiting:
                await self._activity(
                    ReviewActivities.remind_review,
                    RemindReview(
                        ref=self._ref(inp.actor),
                        occurrence=occurrence,
                        deadline=inp.deadline,
                        schools=waiting,
                        due_at=moment,
                    ),
                )
        await workflow.wait_condition(lambda: self._open().locked and workflow.all_handlers_finished())
        return self.status()

    async def _locked_within(self, seconds: float) -> bool:
        try:
            await workflow.wait_condition(lambda: self._open().locked, timeout=seconds)
        except TimeoutError:
            return False
        return True

    @workflow.query
    def status(self) -> ReviewStatus:
        review, inp = self._review, self._input()
        return ReviewStatus(
            district=inp.district,
            year=inp.year,
            deadline=inp.deadline,
            locked=review is not None and review.locked,
            approved_by=None if review is None else review.approved_by,
            schools=[
                SchoolState(school=s.school, state=s.state, reasons=list(s.reasons), decided_by=s.decided_by)
                for s in ([] if review is None else review.schools.values())
            ],
        )

    @workflow.update
    async def submit(self, req: ListStep) -> ReviewStatus:
        return await self._step(req, lambda r: r.submit(req.school), "submitted")

    @workflow.update
    async def approve(self, req: ListStep) -> ReviewStatus:
        return await self._step(req, lambda r: r.approve(req.school, req.actor), "approved")

    @workflow.update
    async def return_list(self, req: ListStep) -> ReviewStatus:
        return await self._step(req, lambda r: r.send_back(req.school, req.actor, req.reasons), "returned")

    @submit.validator
    def _validate_submit(self, req: ListStep) -> None:
        self._check(req, lambda r: r.submit(req.school))

    @approve.validator
    def _validate_approve(self, req: ListStep) -> None:
        self._check(req, lambda r: r.approve(req.school, req.actor))

    @return_list.validator
    def _validate_return(self, req: ListStep) -> None:
        self._check(req, lambda r: r.send_back(req.school, req.actor, req.reasons))

    def _check(self, req: ListStep, decide: Decide) -> None:
        check_recordable(req.model_dump())
        if self._review is None:
            raise ReviewRefused(phrase("the review is still opening"))
        decide(self._review)

    async def _step(
        self, req: ListStep, decide: Decide, state: Literal["submitted", "approved", "returned"]
    ) -> ReviewStatus:
        async with self._steps:  # one list step at a time, each decided on the state the last one left
            try:
                after = decide(self._open())
            except ReviewRefused as exc:
                raise ApplicationError(str(exc), type="ReviewRefused", non_retryable=True) from None
            update = workflow.current_update_info()
            step = RecordListStep(
                ref=self._ref(req.actor),
                step=f"{state}/{req.school}/{update.id if update else workflow.uuid4()}",
                school=req.school,
                state=state,
                reasons=req.reasons if state == "returned" else [],
                locks_year=after.locked,
            )
            await self._activity(ReviewActivities.record_list_step, step)
            self._review = after
        return self.status()

    def _open(self) -> YearReview:
        assert self._review is not None, "the review is opened before anything else"
        return self._review

    def _input(self) -> AnnualReviewInput:
        assert self._inp is not None
        return self._inp

    def _ref(self, actor: str) -> ReviewRef:
        inp = self._input()
        return ReviewRef(district=inp.district, year=inp.year, actor=actor)

    @staticmethod
    async def _activity(fn: Any, arg: BaseModel) -> Any:
        return await refusals_answered(run_activity(fn, arg))
