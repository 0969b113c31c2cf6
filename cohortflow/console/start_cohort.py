"""Starting a cohort from a programme version's page: the cohort's id, checked as the API checks it, then the
cohort started under that version (``services.cohorts.start_version``, as the API's ``POST /cohorts``) with the
signed-in account recorded as the actor who started it."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.api.cohorts import StartCohort
from cohortflow.console.form_problems import problems_of
from cohortflow.console.programmes import shown_version
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed, form_token
from cohortflow.domain.programme import ProgrammeInvalid
from cohortflow.services.cohorts import CohortExists, start_version

router = APIRouter(prefix="/console", include_in_schema=False)
Starter = Annotated[Session, allowed(Permission.COHORTS_START)]
log = structlog.get_logger("cohortflow.console")


@router.post("/programmes/{programme_id}/versions/{version}/start")
async def start(
    request: Request,
    session: Starter,
    programme_id: str,
    version: str,
    cohort_id: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    await form_token(request, session)
    sent = {"cohort_id": cohort_id.strip()}

    async def again(status_code: int, **more: object) -> HTMLResponse:
        return await shown_version(request, session, programme_id, version, status_code, start_sent=sent, **more)

    if not version.isdigit():
        return await again(404)
    try:
        body = StartCohort.model_validate({**sent, "programme_id": programme_id, "version": int(version)})
    except ValidationError as exc:
        return await again(422, start_problems=problems_of(request, exc))
    try:
        await start_version(
            request.app.state.temporal,
            request.app.state.store,
            request.app.state.settings.task_queue,
            cohort_id=body.cohort_id,
            programme_id=body.programme_id,
            version=body.version,
            actor=session.principal.actor,
        )
    except CohortExists:
        problem = say(request, "A cohort with this id exists already; choose another.")
        return await again(409, start_problems={"cohort_id": problem})
    except ProgrammeInvalid as exc:
        return await again(409, start_refused=list(exc.problems))
    log.info("console cohort started", cohort_id=body.cohort_id, by=session.principal.actor)
    message = say(request, "Cohort {cohort} started; it appears on the dashboard within moments.")
    return page(
        request,
        "started.html",
        201,
        principal=session.principal,
        csrf=session.csrf,
        message=message.format(cohort=body.cohort_id),
        cohort_id=body.cohort_id,
    )
