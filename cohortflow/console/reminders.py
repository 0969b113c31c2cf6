"""Reminders: what the outbox holds (queued, sent, given up, and why), one message as it was or will be sent, and a
preview of what a rule would say to a participant now.

The outbox is read by ``reminders.listing``; a preview is the API's own (``api.reminders.participant_preview``,
``reminders.compose.preview``), so the page shows exactly what the recipient gets. The outbox holds no ID number
nor person key, only a participant id, an address and the text, which the ``reminder`` role exists to read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission, Principal
from cohortflow.api.reminders import NotForParticipants, participant_preview
from cohortflow.console.rendering import not_found, page, say
from cohortflow.console.sessions import NotAllowed, allowed
from cohortflow.domain.messages import Locale, RenderedMessage
from cohortflow.readmodels import audiences
from cohortflow.reminders.compose import preview
from cohortflow.reminders.listing import STATES, OutboxFilter, Pool, latest_messages, outbox_counts, outbox_message

router = APIRouter(prefix="/console", include_in_schema=False)
Reader = Annotated[Session, allowed(Permission.REMINDERS_READ)]
SHOWN = 100
"""Messages the list shows; past them, the reader narrows the search."""


def _every_prefecture(session: Session) -> Session:
    """The outbox is not kept by prefecture: a role bound to one (none reads reminders today) must not read it."""
    if session.principal.prefecture_scope is not None:
        raise NotAllowed(Permission.REMINDERS_READ.value)
    return session


@router.get("/reminders")
async def reminders(
    request: Request,
    session: Reader,
    cohort: Annotated[str, Query(max_length=100)] = "",
    rule: Annotated[str, Query(max_length=100)] = "",
    state: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    principal = _every_prefecture(session).principal
    chosen = next((s for s in STATES if s == state), None)  # anything else: every state
    where = OutboxFilter(cohort_id=cohort.strip() or None, rule=rule.strip() or None, state=chosen)
    pool = request.app.state.store.pool
    counts = await outbox_counts(pool, where)
    messages = await latest_messages(pool, where, SHOWN)
    matching = counts[chosen] if chosen else sum(counts.values())
    return page(
        request,
        "reminders.html",
        principal=principal,
        csrf=session.csrf,
        where=where,
        counts=counts,
        messages=messages,
        more=max(matching - len(messages), 0),
    )


@router.get("/reminders/message")
async def message(
    request: Request, session: Reader, reminder: Annotated[str, Query(max_length=500)] = ""
) -> HTMLResponse:
    principal = _every_prefecture(session).principal
    found = await outbox_message(request.app.state.store.pool, reminder)
    if found is None:
        return not_found(request, session, say(request, "No reminder has that key."))
    return page(request, "reminder.html", principal=principal, csrf=session.csrf, m=found)


@router.get("/reminders/preview")
async def preview_page(
    request: Request,
    session: Reader,
    cohort: Annotated[str, Query(max_length=100)] = "",
    rule: Annotated[str, Query(max_length=100)] = "",
    participant: Annotated[str, Query(max_length=100)] = "",
    locale: Annotated[str, Query(max_length=2)] = "",
) -> HTMLResponse:
    principal = _every_prefecture(session).principal
    cohort, rule, participant = cohort.strip(), rule.strip(), participant.strip()
    language: Locale | None = "en" if locale == "en" else "zh" if locale == "zh" else None
    shown: dict[str, Any] = {
        "principal": principal,
        "csrf": session.csrf,
        "cohort": cohort,
        "rule": rule,
        "participant": participant,
        "locale": language or "",
    }
    if not cohort or not rule:
        return page(request, "reminder_preview.html", **shown)
    try:
        rendered = await _rendered(request.app.state.store.pool, principal, cohort, rule, participant, language)
    except NotForParticipants:
        problem = say(request, "This rule's messages go to coordinators; leave the participant blank.")
        return page(request, "reminder_preview.html", 422, problem=problem, **shown)
    except LookupError:
        problem = say(request, "No such cohort, rule or participant (a participant must be in the cohort).")
        return page(request, "reminder_preview.html", 404, problem=problem, **shown)
    return page(request, "reminder_preview.html", rendered=rendered, **shown)


async def _rendered(
    pool: Pool, principal: Principal, cohort: str, rule: str, participant: str, language: Locale | None
) -> RenderedMessage:
    """What ``rule`` of the cohort's programme says: to ``participant`` if one is named (the API's participant
    preview), otherwise with each value shown as its placeholder (the API's preview of a rule)."""
    if participant:
        return await participant_preview(pool, principal, cohort, rule, participant, language)
    async with pool.connection() as conn:
        programme = await audiences.cohort_programme(conn, cohort)
    return preview(programme, programme.reminder_rule(rule), language or "zh", {})
