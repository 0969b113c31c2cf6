"""The auditor's questions about a cohort's past (``audit:read``): a cohort or a participant as the history stood at
a moment (China time), and the cohort's selection re-run from its events alone, or under a changed rule (a what-if).

The answers are ``cohortflow.audit``'s, as the API's and the CLI's are, and each question is recorded in the history
as they record it, the signed-in account its actor. A what-if changes a copy of the rule the cohort was pinned to;
nothing but the question is written.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cohortflow.access.accounts import Session
from cohortflow.access.roles import Permission
from cohortflow.audit.as_of import participant_as_of
from cohortflow.audit.journal import record_query
from cohortflow.audit.selection_replay import SelectionReplay, replay_selection
from cohortflow.console.rendering import page, say
from cohortflow.console.sessions import allowed
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.programme import Programme
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.store.eventstore import EventStore

router = APIRouter(prefix="/console", include_in_schema=False)
Auditor = Annotated[Session, allowed(Permission.AUDIT_READ)]
Field = Annotated[str, Query(max_length=200)]
PLACE = re.compile(r"(selected|waiting) #(\d+)")
"""How ``selection_replay`` names a place: ``selected #3``, ``waiting #1`` (or ``not selected``)."""


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def _moment(text: str) -> datetime | None:
    """A date and time typed in China time (``2025-03-01T12:00``, seconds optional), or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if "T" not in text and " " not in text.strip():
        return None  # a date alone: which moment of the day is meant is the reader's to say
    return moment if moment.tzinfo else moment.replace(tzinfo=PROVINCE_ZONE)


@router.get("/audit/as-of")
async def as_of(
    request: Request, session: Auditor, cohort: Field = "", participant: Field = "", at: Field = ""
) -> HTMLResponse:
    cohort, participant = cohort.strip(), participant.strip()
    shown: dict[str, Any] = {"principal": session.principal, "csrf": session.csrf}
    shown["sent"] = {"cohort": cohort, "participant": participant, "at": at}
    if not cohort and not at:
        return page(request, "audit_as_of.html", **shown)
    moment = _moment(at)
    problems = {"cohort": say(request, "Fill this in.")} if not cohort else {}
    if moment is None:
        problems["at"] = say(request, "Give a date and a time.")
    if problems or moment is None:
        return page(request, "audit_as_of.html", 422, problems=problems, **shown)
    store = _store(request)
    try:
        state: Any = (
            await participant_as_of(store, cohort, participant, moment)
            if participant
            else await cohort_summary(store, cohort, as_of=moment)
        )
    except LookupError as exc:  # no such cohort, not yet started then, or no such participant in it then
        problem = say(request, "Nothing is known of this then.") + f" ({exc})"
        return page(request, "audit_as_of.html", 404, problems={"cohort": problem}, **shown)
    params = {"cohort": cohort, "participant": participant, "at": moment.isoformat()}
    await record_query(store, session.principal.actor, "as-of", params, "ok")
    template = "audit_participant_as_of.html" if participant else "audit_cohort_as_of.html"
    return page(request, template, state=state, moment=moment, **shown)


def _changed_rule(pinned: Programme, target: int | None, hours_cap: float | None, min_hours: float | None) -> Programme:
    """The pinned programme with the reader's changes to its selection rule and online requirement."""
    selection = pinned.selection.model_copy(
        update={k: v for k, v in {"target": target, "hours_cap": hours_cap}.items() if v is not None}
    )
    online = pinned.online if min_hours is None else pinned.online.model_copy(update={"min_hours": min_hours})
    return pinned.model_copy(update={"selection": selection, "online": online})


def _number(text: str) -> float | None:
    """A number typed in a what-if field; blank, None (the recorded rule's own value is kept)."""
    if not text.strip():
        return None
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _place(text: str) -> tuple[str, int]:
    """``selected #3`` as ("selected", 3), for the page to say in the reader's language."""
    found = PLACE.fullmatch(text)
    return (found.group(1), int(found.group(2))) if found else ("not selected", 0)


def _why(request: Request, why: str) -> str:
    """``selection_replay``'s reason for a change in the reader's language; a reason it words anew, as it words it."""
    if why == "not among the candidates recorded before the decision":
        return say(request, "Not among the candidates recorded before the decision.")
    if why == "not eligible under the replayed rule":
        return say(request, "Not eligible under the replayed rule.")
    if found := re.fullmatch(r"eligible under the replayed rule \(rank (\d+)\), not under the recorded one", why):
        return say(request, "Eligible under the replayed rule (rank {rank}), not under the recorded one.").format(
            rank=found[1]
        )
    if found := re.fullmatch(r"ranked (\d+) instead of (\d+)", why):
        return say(request, "Ranked {after} instead of {before}.").format(after=found[1], before=found[2])
    if found := re.fullmatch(r"same rank (\d+), but prefecture minimums or caps moved the line", why):
        return say(request, "Same rank {rank}, but a prefecture's minimum or cap moved the line.").format(rank=found[1])
    return why


@router.get("/audit/selection")
async def selection(
    request: Request,
    session: Auditor,
    cohort: Field = "",
    target: Field = "",
    hours_cap: Field = "",
    min_hours: Field = "",
) -> HTMLResponse:
    cohort = cohort.strip()
    sent = {"cohort": cohort, "target": target, "hours_cap": hours_cap, "min_hours": min_hours}
    shown: dict[str, Any] = {"principal": session.principal, "csrf": session.csrf, "sent": sent}
    if not cohort:
        return page(request, "audit_selection.html", **shown)
    numbers: dict[str, float | None] = {}
    problems: dict[str, str] = {}
    for name in ("target", "hours_cap", "min_hours"):
        try:
            numbers[name] = _number(sent[name])
        except ValueError:
            problems[name] = say(request, "Give a number.")
    target_n = numbers.get("target")
    if target_n is not None and not target_n.is_integer():
        problems["target"] = say(request, "Give a whole number.")
    if problems:
        return page(request, "audit_selection.html", 422, problems=problems, **shown)
    changes = {name: value for name, value in numbers.items() if value is not None}
    store = _store(request)
    started = await store.first_event(cohort_stream(cohort))
    if started is None or started.type != "CohortStarted":
        return page(request, "audit_selection.html", 404, problems={"cohort": say(request, "No such cohort.")}, **shown)
    try:
        pinned = Programme.model_validate(started.data["programme"])
        what_if = (
            _changed_rule(
                pinned,
                None if target_n is None else int(target_n),
                numbers.get("hours_cap"),
                numbers.get("min_hours"),
            )
            if changes
            else None
        )
        result: SelectionReplay = await replay_selection(store, cohort, what_if)
    except (LookupError, ValueError) as exc:  # no selection yet, a block template's cohort, a what-if refused
        where = "what_if" if changes and not isinstance(exc, LookupError) else "cohort"
        problem = say(request, "This selection cannot be replayed.") + f" ({exc})"
        return page(request, "audit_selection.html", 422, problems={where: problem}, **shown)
    described = ", ".join(f"{k}={v:g}" for k, v in changes.items())  # what the history says was tried
    outcome = "identical" if result.identical else f"{len(result.changes)} changes"
    await record_query(store, session.principal.actor, "selection", {"cohort": cohort, "what_if": described}, outcome)
    rows = [(c, _place(c.recorded), _place(c.replayed), _why(request, c.why)) for c in result.changes]
    return page(request, "audit_selection.html", result=result, rows=rows, pinned=pinned, **shown)
