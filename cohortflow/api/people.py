"""/api/v1/people: the credit bank's registry, and a person's standing against every rule that applies to them.

A coordinator sees the people of their own prefecture only; ID numbers are
masked unless the role may read them. A person is addressed by their person
key (a keyed hash of the ID number, which the key does not reveal): the
registry's own handle, shown to every role that may read the registry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities.recognition import RecognitionClaim, RecognitionDecision
from cohortflow.api.auth import require
from cohortflow.api.commands import send
from cohortflow.api.id_search import ID_SEARCH, id_search
from cohortflow.api.idempotency import Idempotent
from cohortflow.api.pages import NEXT_LINK, Paged, bad_request
from cohortflow.api.problems import answers
from cohortflow.api.text import Reason
from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.recognition import Decision
from cohortflow.domain.credit_bank.standing import View
from cohortflow.domain.events import RecognitionRequested
from cohortflow.domain.phrases import phrase
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.bank import PersonFilter, Standing, people, person, person_standing, shipped_requirements
from cohortflow.services.credit_bank import credit_bank
from cohortflow.workflows.credit_bank import CreditBankWorkflow

router = APIRouter(prefix="/api/v1/people", tags=["credit bank"])
Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]
Claimant = Annotated[Principal, Depends(require(Permission.IMPORTS_WRITE))]
Reviewing = Annotated[Principal, Depends(require(Permission.RECOGNITION_DECIDE))]


class ClaimRequest(BaseModel):
    title: Reason = Field(description="What was studied, e.g. 国家中小学智慧教育平台专题课程")
    hours: float = Field(gt=0, le=10_000)
    level: CreditLevel = Field(description="The level the credit would be granted at; its reviewers decide")
    earned_on: date = Field(description="The last day of the study")
    days: int = Field(1, ge=1, le=3_650)
    evidence: Annotated[str, Field(max_length=1_000)] = Field(
        "", description="Where the proof is (a certificate's number)"
    )


class DecisionRequest(BaseModel):
    decision: Decision
    reason: str = Field("", max_length=1_000, description="Why; a refusal must say")


def scope_of(principal: Principal) -> PersonFilter:
    """The people a principal may see and change: a coordinator's prefecture, a district reviewer's county, a
    school's staff; everyone for the other roles."""
    return PersonFilter(
        prefecture_code=principal.prefecture_scope, county_code=principal.county_scope, school=principal.school_scope
    )


def reviewer_of(principal: Principal) -> tuple[CreditLevel, str]:
    """The level and unit a principal decides recognition for: an administrator the province's, a coordinator
    their city's (prefecture's), a district reviewer their county's, a school its own."""
    if principal.school_scope is not None:
        return "school", principal.school_scope
    if principal.county_scope is not None:
        return "district", principal.county_scope
    scope = principal.prefecture_scope
    return ("province", "province") if scope is None else ("city", scope)


def _shown(facts: PersonFacts, principal: Principal) -> PersonFacts:
    return facts.model_copy(update={"national_id": principal.show_id(facts.national_id)})


async def visible_person(request: Request, person_key: str, principal: Principal) -> PersonFacts:
    """The person, if registered and within the principal's scope (else 404, whichever it is)."""
    found = await person(request.app.state.store.pool, person_key, scope_of(principal))
    if found is None:
        raise LookupError(phrase("no person {person_key} is registered (that you may see)", person_key=person_key))
    return found


@router.get("", responses={200: {"headers": NEXT_LINK}})
async def list_people(
    request: Request,
    principal: Reader,
    page: Paged,
    county_code: Annotated[str | None, Query(description="A county's division code")] = None,
    school: Annotated[str | None, Query(description="A school's name, whole")] = None,
    name: Annotated[str | None, Query(description="Part of the name")] = None,
    national_id: Annotated[str | None, Query(description=ID_SEARCH)] = None,
) -> list[PersonFacts]:
    """Registered people (a coordinator's own prefecture's only), by person key."""
    after = page.after(str)
    mine = scope_of(principal)
    try:
        by_id = id_search(national_id, principal)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    where = PersonFilter(
        prefecture_code=mine.prefecture_code,
        county_code=mine.county_code or county_code,
        school=mine.school or school,
        name=name,
        **by_id,
    )
    found = await people(
        request.app.state.store.pool, where, after=None if after is None else str(after[0]), limit=page.limit + 1
    )
    return page.answer([_shown(p, principal) for p in found], lambda p: (p.person_key,))


@router.get("/{person_key}", responses=answers(404))
async def get_person(person_key: str, request: Request, principal: Reader) -> PersonFacts:
    """A registered person's facts as they stand after every correction."""
    return _shown(await visible_person(request, person_key, principal), principal)


@router.get("/{person_key}/standing", responses=answers(404))
async def get_standing(
    person_key: str,
    request: Request,
    principal: Reader,
    as_of: Annotated[date | None, Query(description="The day judged (today in China if not given)")] = None,
    view: Annotated[
        View,
        Query(
            description="`known_now`: everything recorded by today for hours earned by then; `recorded_then`: "
            "only what had been recorded by that day (what a statement printed then said)"
        ),
    ] = "known_now",
) -> Standing:
    """The person's standing on a day against every rule that applies to them, with every entry that counts."""
    facts = await visible_person(request, person_key, principal)
    day = as_of or datetime.now(PROVINCE_ZONE).date()
    found = await person_standing(request.app.state.store.pool, facts, shipped_requirements(), day, view)
    return found.model_copy(update={"person": _shown(found.person, principal)})


@router.post("/{person_key}/recognitions", status_code=201, responses=answers(404, 409))
async def request_recognition(
    person_key: str, body: ClaimRequest, request: Request, principal: Claimant, once: Idempotent
) -> RecognitionRequested:
    """Submit a person's study outside cohorts for recognition; a reviewer of its level and unit decides it."""
    await visible_person(request, person_key, principal)
    bank = await credit_bank(request.app.state.temporal, request.app.state.settings.task_queue)
    claim = RecognitionClaim(person_key=person_key, actor=principal.actor, **body.model_dump())
    requested: RecognitionRequested = await send(bank, CreditBankWorkflow.request_recognition, claim, once=once)
    return requested


@router.post("/{person_key}/recognitions/{claim_id}/decision", responses=answers(404, 409))
async def decide_recognition(
    person_key: str, claim_id: str, body: DecisionRequest, request: Request, principal: Reviewing, once: Idempotent
) -> list[str]:
    """Approve a claim (its credit is recorded) or refuse it with the reason; only a reviewer of the claim's level
    and unit may (an administrator reviews province credits, a coordinator their city's)."""
    await visible_person(request, person_key, principal)
    level, unit = reviewer_of(principal)
    bank = await credit_bank(request.app.state.temporal, request.app.state.settings.task_queue)
    decision = RecognitionDecision(
        person_key=person_key,
        claim_id=claim_id,
        decision=body.decision,
        reason=body.reason,
        actor=principal.actor,
        reviewer_level=level,
        reviewer_unit=unit,
    )
    recorded: list[str] = await send(bank, CreditBankWorkflow.decide_recognition, decision, once=once)
    return recorded
