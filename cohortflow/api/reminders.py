"""/api/v1/…/reminders: what a reminder will say before anyone receives it, and what could not be sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.pages import NEXT_LINK, Paged, instant, microseconds
from cohortflow.api.text import Code
from cohortflow.domain.messages import PLACEHOLDERS, Locale, RenderedMessage
from cohortflow.domain.phrases import phrase
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.readmodels import audiences
from cohortflow.reminders.compose import block_participant_recipient, participant_recipient, preview
from cohortflow.reminders.delivery import Delivery, GivenUp
from cohortflow.services import programmes

router = APIRouter(tags=["reminders"])


class PreviewRequest(BaseModel):
    locale: Locale = "zh"
    values: dict[str, str] = Field(default_factory=dict, description="Placeholder values; any not given show as <name>")


class ParticipantPreviewRequest(BaseModel):
    participant_id: Code
    locale: Locale | None = Field(default=None, description="Defaults to the participant's own language")


@router.post("/api/v1/programmes/{programme_id}/versions/{version}/reminders/{rule}/preview")
async def preview_rule(
    programme_id: str,
    version: int,
    rule: str,
    body: PreviewRequest,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.PROGRAMMES_READ))],
) -> RenderedMessage:
    """Render a rule's message in Chinese or English with example or given values."""
    programme = await programmes.load(request.app.state.store, programme_id, version)
    found = programme.reminder_rule(rule)
    unknown = sorted(set(body.values) - PLACEHOLDERS[found.recipients])
    if unknown:
        raise HTTPException(
            422,
            phrase(
                "unknown placeholder(s) for {recipients}: {listed}",
                recipients=found.recipients,
                listed=", ".join(unknown),
            ),
        )
    return preview(programme, found, body.locale, dict(body.values))


@router.post("/api/v1/cohorts/{cohort_id}/reminders/{rule}/preview")
async def preview_for_participant(
    cohort_id: str,
    rule: str,
    body: ParticipantPreviewRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.COHORTS_READ))],
) -> RenderedMessage:
    """The message one participant would receive if the rule fired now (deadline shown as <deadline>).

    A coordinator previews only their own prefecture's participants; any other is
    answered as one not in the cohort, so the answer tells nothing about them."""
    try:
        return await participant_preview(
            request.app.state.store.pool, principal, cohort_id, rule, body.participant_id, body.locale
        )
    except NotForParticipants as exc:
        raise HTTPException(422, str(exc)) from exc


class NotForParticipants(ValueError):
    """A rule whose messages go to coordinators: no participant ever receives it."""


async def participant_preview(
    pool: AsyncConnectionPool[AsyncConnection[TupleRow]],
    principal: Principal,
    cohort_id: str,
    rule: str,
    participant_id: str,
    locale: Locale | None,
) -> RenderedMessage:
    """The message ``participant_id`` of the cohort would receive if ``rule`` fired now, in ``locale`` (None:
    the participant's own language). The API's preview and the console's.

    LookupError: no such cohort, rule or participant, or a participant outside the principal's prefecture (not
    told apart from one who is not there, so the answer tells nothing about them)."""
    async with pool.connection() as conn:
        programme = await audiences.cohort_programme(conn, cohort_id)
        person = await audiences.participant(conn, cohort_id, participant_id)
    if person is None or not principal.covers(person.prefecture_code):
        raise LookupError(
            phrase(
                "participant {participant_id} is not in cohort {cohort_id} (or not in your prefecture)",
                participant_id=participant_id,
                cohort_id=cohort_id,
            )
        )
    own: Locale = "en" if person.locale == "en" else "zh"
    if isinstance(programme, ProgrammeTemplate):
        block_rule = programme.reminder_rule(rule)
        values = block_participant_recipient(programme, block_rule, None, cohort_id, person).values
        return preview(programme, block_rule, locale or own, values)
    found = programme.reminder_rule(rule)
    if found.recipients != "participants":
        raise NotForParticipants(phrase("rule {rule} goes to coordinators, not participants", rule=rule))
    values = participant_recipient(programme, found, None, cohort_id, person).values
    return preview(programme, found, locale or own, values)


@router.get("/api/v1/reminders/failures", responses={200: {"headers": NEXT_LINK}})
async def failures(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    page: Paged,
    cohort: Annotated[str | None, Query(description="Only this cohort's messages")] = None,
) -> list[GivenUp]:
    """Messages given up (no address, refused by the channel, or too many failed attempts), with the reason;
    by cohort, oldest first, a page at a time."""
    after = page.after(str, int, str)
    start = None if after is None else (str(after[0]), instant(after[1]), str(after[2]))
    found = await Delivery(request.app.state.store).given_up(cohort, after=start, limit=page.limit + 1)
    return page.answer(found, lambda g: (g.cohort_id, microseconds(g.queued_at), g.reminder))
