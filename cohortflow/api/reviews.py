"""/api/v1/reviews: a district's annual review of its schools' credits, opened, steered and read.

Each review is the workflow ``review-{district}-{year}``; the steps are its
Updates, refused with the review's own reason (409) when the list is not in a
state to take them. A coordinator reviews the districts of their prefecture
(a county's division code starts with its prefecture's first four digits), a
district reviewer their own county; a school submits its own list.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from temporalio.client import WorkflowHandle

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.commands import send
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept, Idempotent, Once
from cohortflow.api.problems import answers
from cohortflow.api.text import Code, Reason
from cohortflow.domain.credit_bank.review import ReviewRefused, deadline_problem, review_id
from cohortflow.domain.phrases import phrase
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.bank import PersonFilter, people
from cohortflow.readmodels.school_list import SchoolList, school_list
from cohortflow.services.starting import start_once
from cohortflow.workflows.annual_review import AnnualReviewInput, AnnualReviewWorkflow, ListStep, ReviewStatus

router = APIRouter(prefix="/api/v1/reviews", tags=["credit bank"], route_class=AnswersKept)
Reviewer = Annotated[Principal, Depends(require(Permission.REVIEWS_WRITE))]
Submitter = Annotated[Principal, Depends(require(Permission.REVIEWS_SUBMIT))]
Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]
District = Annotated[str, Path(pattern=r"^\d{6}$", description="The county's (district's) six-digit division code")]
Year = Annotated[int, Path(ge=2000, le=2200)]
OPENING_WAIT = 10.0
"""Seconds a new review's answer waits for its schools to be read from the registry."""


class OpenReviewRequest(BaseModel):
    district: str = Field(pattern=r"^\d{6}$", description="The county's (district's) six-digit division code")
    year: int = Field(ge=2000, le=2200)
    deadline: date = Field(description="The last day (China) for the schools' lists; not in the past")

    @field_validator("deadline")
    @classmethod
    def _deadline_ahead(cls, deadline: date, info: ValidationInfo) -> date:
        year = info.data.get("year")  # absent when the year itself was refused
        problem = None if year is None else deadline_problem(year, deadline, datetime.now(PROVINCE_ZONE).date())
        if problem is not None:
            raise ValueError(problem)
        return deadline


class ReturnRequest(BaseModel):
    reasons: list[Reason] = Field(min_length=1, description="Why the list goes back to the school")


class ReviewExists(Exception):
    """A district's year is reviewed once."""


def _in_scope(principal: Principal, district: str, school: str | None = None) -> None:
    """Refuse, as if there were none, a review outside the principal's prefecture or county, or a school's list
    other than a school token's own."""
    prefecture, county, own = principal.prefecture_scope, principal.county_scope, principal.school_scope
    if (prefecture is not None and district[:4] != prefecture[:4]) or county not in (None, district):
        raise LookupError(phrase("no review of district {district} that you may see", district=district))
    if own is not None and school not in (None, own):
        raise LookupError(phrase("no list of school {school} that you may submit", school=school))


async def _status(handle: WorkflowHandle[Any, Any]) -> ReviewStatus:
    status: ReviewStatus = await handle.query(AnnualReviewWorkflow.status)
    return status


@router.post(
    "",
    status_code=201,
    response_model=ReviewStatus,
    responses={
        202: {"model": ReviewStatus, "description": "Opened; its schools were not read within 10 s: ask again"},
        **answers(404, 409),
    },
)
async def open_review(body: OpenReviewRequest, request: Request, principal: Reviewer, _: AnsweredOnce) -> Any:
    """Open the district's review of its schools' credits for the year, with its deadline."""
    _in_scope(principal, body.district)
    if not await people(request.app.state.store.pool, PersonFilter(county_code=body.district), limit=1):
        raise ReviewRefused(
            phrase("district {district} has no registered people, so no schools to review", district=body.district)
        )
    inp = AnnualReviewInput(district=body.district, year=body.year, deadline=body.deadline, actor=principal.actor)
    exists = ReviewExists(
        phrase("the {year} review of district {district} was opened already", year=body.year, district=body.district)
    )
    handle = await start_once(
        request.app.state.temporal,
        AnnualReviewWorkflow.run,
        inp,
        review_id(body.district, body.year),
        request.app.state.settings.task_queue,
        exists,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    status = await _status(handle)
    while not status.schools and loop.time() - started < OPENING_WAIT:
        await asyncio.sleep(0.1)
        status = await _status(handle)
    headers = {"Location": f"{router.prefix}/{body.district}/{body.year}"}
    return JSONResponse(status.model_dump(mode="json"), status_code=201 if status.schools else 202, headers=headers)


@router.get("/{district}/{year}", responses=answers(404))
async def get_review(district: District, year: Year, request: Request, principal: Reader) -> ReviewStatus:
    """Where each school's list stands, and whether the year is locked."""
    _in_scope(principal, district)
    return await _status(request.app.state.temporal.get_workflow_handle(review_id(district, year)))


@router.get("/{district}/{year}/schools/{school}", responses=answers(404))
async def get_school_list(
    district: District, year: Year, school: Code, request: Request, principal: Reader
) -> SchoolList:
    """What a school's list holds: every entry of its people earned in the year, whoever recorded it, and the
    hours that stand (ID numbers masked as the reader's role shows them)."""
    _in_scope(principal, district, school)
    found = await school_list(request.app.state.store.pool, district, school, year)
    if not found.people:
        raise LookupError(
            phrase("no school {school} with registered people in district {district}", school=school, district=district)
        )
    shown = [e.model_copy(update={"national_id": principal.show_id(e.national_id)}) for e in found.entries]
    return found.model_copy(update={"entries": shown})


@router.post("/{district}/{year}/schools/{school}/submit", responses=answers(404, 409))
async def submit_list(
    district: District, year: Year, school: Code, request: Request, principal: Submitter, once: Idempotent
) -> ReviewStatus:
    """Submit a school's list for review (a school's token: its own list only)."""
    _in_scope(principal, district, school)
    return await _step(
        request, district, year, AnnualReviewWorkflow.submit, ListStep(school=school, actor=principal.actor), once
    )


@router.post("/{district}/{year}/schools/{school}/approve", responses=answers(404, 409))
async def approve_list(
    district: District, year: Year, school: Code, request: Request, principal: Reviewer, once: Idempotent
) -> ReviewStatus:
    """Approve a submitted list; the last approval locks the district's year."""
    _in_scope(principal, district)
    step = ListStep(school=school, actor=principal.actor)
    return await _step(request, district, year, AnnualReviewWorkflow.approve, step, once)


@router.post("/{district}/{year}/schools/{school}/return", responses=answers(404, 409))
async def return_list(
    district: District,
    year: Year,
    school: Code,
    body: ReturnRequest,
    request: Request,
    principal: Reviewer,
    once: Idempotent,
) -> ReviewStatus:
    """Send a submitted list back to the school with the reasons; it may be submitted again."""
    _in_scope(principal, district)
    step = ListStep(school=school, actor=principal.actor, reasons=body.reasons)
    return await _step(request, district, year, AnnualReviewWorkflow.return_list, step, once)


async def _step(
    request: Request, district: str, year: int, update: Any, step: ListStep, once: Once | None
) -> ReviewStatus:
    handle = request.app.state.temporal.get_workflow_handle(review_id(district, year))
    status: ReviewStatus = await send(handle, update, step, once=once)
    return status
