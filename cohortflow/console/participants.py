"""A participant's page: their place in one cohort as the read models hold it (hours, tasks handed in, selection,
field study, completion, credits) and their timeline, every event about them in the order it was recorded, with
who recorded it. A coordinator reads only their prefecture's participants; another's is answered as one who does
not exist. ID numbers are masked, in the facts and in the events, unless the role reads them."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission, Principal
from cohortflow.console.rendering import not_found, page, say
from cohortflow.console.sessions import allowed
from cohortflow.domain.decoding import EVENT_TYPES
from cohortflow.readmodels.queries import participant
from cohortflow.readmodels.timeline import TimelineEntry, participant_timeline

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.COHORTS_READ)]
SELECTION = "SelectionDecided"
TIMELINE_EVENTS = (*(kind for kind, model in EVENT_TYPES.items() if "participant_id" in model.model_fields), SELECTION)
"""The events a participant's timeline can hold (``readmodels.timeline``), each shown by its name in the catalogue."""
UNSHOWN = {"cohort_id", "participant_id"}
"""What every event on the page repeats."""


def _detail(entry: TimelineEntry, participant_id: str, principal: Principal) -> str:
    """What the event says about the participant, briefly: a selection only whether they were chosen."""
    if entry.type == SELECTION:
        if participant_id in entry.data.get("selected", []):
            return "selected"
        return "waiting_list" if participant_id in entry.data.get("waiting_list", []) else ""
    data = {**entry.data, **principal.shown(entry.data)}
    shown = {k: v for k, v in data.items() if k not in UNSHOWN and v not in (None, "", [], {})}
    return json.dumps(shown, ensure_ascii=False, default=str)[1:-1][:300]


@router.get("/cohorts/{cohort_id}/participants/{participant_id}")
async def participant_page(request: Request, session: Reader, cohort_id: str, participant_id: str) -> HTMLResponse:
    principal = session.principal
    pool = request.app.state.store.pool
    found = await participant(pool, cohort_id, participant_id, principal.prefecture_scope)
    if found is None:
        return not_found(request, session, say(request, "No such participant (that you may see)."))
    timeline = await participant_timeline(pool, cohort_id, participant_id)
    entries = [(e, _detail(e, participant_id, principal)) for e in timeline.entries]
    return page(
        request,
        "participant.html",
        principal=principal,
        csrf=session.csrf,
        p=found.model_copy(update=principal.shown(dict(found))),
        entries=entries,
    )
