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

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.pages import NEXT_LINK, Paged
from cohortflow.api.problems import answers
from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.standing import View
from cohortflow.readmodels.bank import PersonFilter, Standing, people, person, person_standing, shipped_requirements
from cohortflow.readmodels.credits import CHINA

router = APIRouter(prefix="/api/v1/people", tags=["credit bank"])
Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]


def _shown(facts: PersonFacts, principal: Principal) -> PersonFacts:
    return facts.model_copy(update={"national_id": principal.show_id(facts.national_id)})


async def _person(request: Request, person_key: str, principal: Principal) -> PersonFacts:
    found = await person(request.app.state.store.pool, person_key, principal.prefecture_scope)
    if found is None:
        raise LookupError(f"no person {person_key} is registered (that you may see)")
    return found


@router.get("", responses={200: {"headers": NEXT_LINK}})
async def list_people(
    request: Request,
    principal: Reader,
    page: Paged,
    county_code: Annotated[str | None, Query(description="A county's division code")] = None,
    school: Annotated[str | None, Query(description="A school's name, whole")] = None,
    name: Annotated[str | None, Query(description="Part of the name")] = None,
) -> list[PersonFacts]:
    """Registered people (a coordinator's own prefecture's only), by person key."""
    after = page.after(str)
    where = PersonFilter(prefecture_code=principal.prefecture_scope, county_code=county_code, school=school, name=name)
    found = await people(
        request.app.state.store.pool, where, after=None if after is None else str(after[0]), limit=page.limit + 1
    )
    return page.answer([_shown(p, principal) for p in found], lambda p: (p.person_key,))


@router.get("/{person_key}", responses=answers(404))
async def get_person(person_key: str, request: Request, principal: Reader) -> PersonFacts:
    """A registered person's facts as they stand after every correction."""
    return _shown(await _person(request, person_key, principal), principal)


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
    facts = await _person(request, person_key, principal)
    day = as_of or datetime.now(CHINA).date()
    found = await person_standing(request.app.state.store.pool, facts, shipped_requirements(), day, view)
    return found.model_copy(update={"person": _shown(found.person, principal)})
