"""The dashboard: the cohorts the account may see with their stage and next deadline, what is due this week,
the participants by stage as a chart drawn on the server (SVG: no charting script to ship or load), and the
same stages per prefecture."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import Signed
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.queries import CohortRow, funnel_by_prefecture, list_cohorts

router = APIRouter(prefix="/console", include_in_schema=False)
STAGES = ("Nominated", "Selected", "Completed", "Withdrawn")


@router.get("/dashboard")
async def dashboard(request: Request, session: Signed) -> HTMLResponse:
    principal = session.principal
    pool = request.app.state.store.pool
    cohorts: list[CohortRow] = await list_cohorts(pool, principal.prefecture_scope)
    prefectures = await funnel_by_prefecture(pool, principal.prefecture_scope)
    now = datetime.now(PROVINCE_ZONE)
    due = [c for c in cohorts if not c.completed and c.deadline is not None and now <= c.deadline <= now + timedelta(7)]
    totals = [sum(c.nominated for c in cohorts), sum(c.selected for c in cohorts)]
    totals += [sum(c.finished for c in cohorts), sum(c.withdrawn for c in cohorts)]
    funnel = [(say(request, label), count) for label, count in zip(STAGES, totals, strict=True)]
    return page(
        request,
        "dashboard.html",
        principal=principal,
        csrf=session.csrf,
        cohorts=cohorts,
        due=due,
        funnel=funnel,
        prefectures=prefectures,
    )
