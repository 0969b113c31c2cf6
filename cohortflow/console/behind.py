"""Who is behind: a county's (or a school's) people judged today against every training rule that applies to
them, each school's count of people behind, and the people who miss a rule with what they miss and why.

The judging is the standing report's (``readmodels.standing_report``, as ``GET /api/v1/reports/standing``) within
the account's scope. A county is the unit asked for: judging a whole prefecture reads tens of thousands of
people's credits, which is the report's download, not a page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission, is_prefecture_code, prefecture_of
from cohortflow.api.people import scope_of
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.bank import shipped_requirements
from cohortflow.readmodels.standing_report import standing_report

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.PEOPLE_READ)]
SHOWN = 200
"""Rows the page lists; the rest are counted."""


@router.get("/behind")
async def behind(
    request: Request,
    session: Reader,
    county: Annotated[str, Query(max_length=6)] = "",
    school: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    principal = session.principal
    scope = scope_of(principal)
    county = scope.county_code or county.strip()
    school = scope.school or school.strip()
    shown: dict[str, Any] = {"principal": principal, "csrf": session.csrf, "county": county, "school": school}
    if not county:
        return page(request, "behind.html", **shown)
    if not is_prefecture_code(county) or (scope.prefecture_code and prefecture_of(county) != scope.prefecture_code):
        problem = say(request, "Give the six-digit code of a county in your prefecture.")
        return page(request, "behind.html", 422, problem=problem, **shown)
    where = scope.model_copy(update={"county_code": county, "school": school or None})
    today = datetime.now(PROVINCE_ZONE).date()
    report = await standing_report(request.app.state.store.pool, where, shipped_requirements(), today, behind_only=True)
    rows = [r.model_copy(update={"national_id": principal.show_id(r.national_id)}) for r in report.rows[:SHOWN]]
    return page(
        request,
        "behind.html",
        **shown,
        report=report,
        rows=rows,
        more=len(report.rows) - len(rows),
        people=sum(s.people for s in report.schools),
        behind_count=sum(s.behind for s in report.schools),
    )
