"""People: a search of the registry by name, school or ID number (masked as the reader is shown it), and a
person's page with their facts, their standing against every rule on today's date, every entry that stands
(its source, when earned and recorded), and their places in every cohort, each linked to its timeline.

Each read is the API's own (``readmodels.bank``) within the account's scope: a coordinator finds only their
prefecture's people, and a person outside it is answered as one who does not exist, by URL too. ID numbers are
masked unless the role may read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.api.id_search import id_search
from cohortflow.api.people import scope_of
from cohortflow.console.rendering import not_found, page, say
from cohortflow.console.sessions import allowed
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.bank import people, person, person_standing, shipped_requirements
from cohortflow.readmodels.queries import participations

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.PEOPLE_READ)]
SHOWN = 100
"""People a search lists; a longer list asks for a narrower search."""


@router.get("/people")
async def search(
    request: Request,
    session: Reader,
    name: Annotated[str, Query(max_length=100)] = "",
    school: Annotated[str, Query(max_length=200)] = "",
    national_id: Annotated[str, Query(max_length=18)] = "",
) -> HTMLResponse:
    principal = session.principal
    scope = scope_of(principal)
    searched = {"name": name.strip() or None, "school": scope.school or school.strip() or None}
    problem = ""
    try:
        searched |= id_search(national_id.strip(), principal)
    except ValueError as exc:
        problem = str(exc)
    where = scope.model_copy(update=searched)
    found = [] if problem else await people(request.app.state.store.pool, where, limit=SHOWN + 1)
    shown = [p.model_copy(update={"national_id": principal.show_id(p.national_id)}) for p in found[:SHOWN]]
    return page(
        request,
        "people.html",
        principal=principal,
        csrf=session.csrf,
        people=shown,
        more=len(found) > SHOWN,
        name=name,
        school=school,
        national_id=national_id,
        id_problem=problem,
    )


@router.get("/people/{person_key}")
async def person_page(request: Request, session: Reader, person_key: str) -> HTMLResponse:
    principal = session.principal
    pool = request.app.state.store.pool
    facts = await person(pool, person_key, scope_of(principal))
    if facts is None:
        return not_found(request, session, say(request, "No such person is registered (that you may see)."))
    today = datetime.now(PROVINCE_ZONE).date()
    standing = await person_standing(pool, facts, shipped_requirements(), today)
    places = await participations(pool, person_key, principal.prefecture_scope)
    shown = facts.model_copy(update={"national_id": principal.show_id(facts.national_id)})
    return page(
        request, "person.html", principal=principal, csrf=session.csrf, person=shown, standing=standing, places=places
    )
