"""The reminder outbox as people read it: how many messages are queued, sent and given up, the latest of them
newest first, and one message with what it says.

Readers speak of three states. A message being sent (``sending``: claimed by a dispatcher, its outcome not yet
recorded) is still queued to them: it may yet fail and wait for another attempt. A message's reason is the
outbox's ``last_error``, the column the failures list (``GET /api/v1/reminders/failures``) reads: why it was given
up, or, for a queued one, why its last attempt failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal, get_args

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import ColumnElement, any_, bindparam, case, func, select

from cohortflow.reminders.delivery import gave_up_at
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

State = Literal["queued", "sent", "gave_up"]
STATES: tuple[State, ...] = get_args(State)
STATUSES: dict[State, tuple[str, ...]] = {"queued": ("pending", "sending"), "sent": ("sent",), "gave_up": ("gave_up",)}
"""The outbox's own statuses behind each state readers see."""

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


@dataclass(frozen=True)
class OutboxFilter:
    """Which messages: of one cohort, one rule, one state; None: any."""

    cohort_id: str | None = None
    rule: str | None = None
    state: State | None = None


@dataclass(frozen=True)
class ListedMessage:
    """One message as the list shows it, and as its own page does with its text."""

    reminder: str
    cohort_id: str
    rule: str
    occurrence: str
    recipient: str
    """A participant id, or ``coordinator-{prefecture}``."""
    participant_id: str | None
    channel: str
    address: str | None
    locale: str
    state: State
    attempts: int
    reason: str | None
    queued_at: datetime
    next_attempt_at: datetime
    """For a queued message, the earliest it goes (past the recipient's quiet hours, or after a failure)."""
    sent_at: datetime | None
    gave_up_at: datetime | None
    """When it was given up (the ReminderGaveUp event's time, or when it was queued if it never had an address)."""
    subject: str
    body: str


_O = t.reminder_outbox.alias("o")
_STATE = case((_O.c.status == "sent", "sent"), (_O.c.status == "gave_up", "gave_up"), else_="queued")
_LISTED = select(
    *(_O.c[n] for n in ("reminder", "cohort_id", "rule", "occurrence", "recipient", "participant_id")),
    *(_O.c[n] for n in ("channel", "address", "locale")),
    _STATE,
    *(_O.c[n] for n in ("attempts", "last_error", "queued_at", "next_attempt_at", "sent_at")),
    case((_O.c.status == "gave_up", gave_up_at(_O))),
    _O.c.subject,
    _O.c.body,
)


def _where(where: OutboxFilter) -> tuple[frozenset[str], dict[str, Any]]:
    """The filters given, and their parameters.

    Only the conditions asked for are written, rather than ``(%s IS NULL OR …)`` for each: a statement the driver
    has prepared may be planned once for any parameters, and such a plan could not use the index a given filter
    needs."""
    params: dict[str, Any] = {}
    if where.cohort_id is not None:
        params["cohort"] = where.cohort_id
    if where.rule is not None:
        params["rule"] = where.rule
    if where.state is not None:
        params["statuses"] = list(STATUSES[where.state])
    return frozenset(params), params


def _conditions(names: frozenset[str]) -> list[ColumnElement[bool]]:
    conditions = [_O.c.cohort_id == bindparam("cohort")] if "cohort" in names else []
    if "rule" in names:
        conditions.append(_O.c.rule == bindparam("rule"))
    if "statuses" in names:
        conditions.append(_O.c.status == any_(bindparam("statuses")))
    return conditions


@cache
def _counts(names: frozenset[str]) -> Statement:
    return Statement(select(_STATE, func.count()).where(*_conditions(names)).group_by(_STATE))


@cache
def _latest(names: frozenset[str]) -> Statement:
    ordered = _LISTED.where(*_conditions(names)).order_by(_O.c.queued_at.desc(), _O.c.reminder.desc())
    return Statement(ordered.limit(bindparam("limit")))


_ONE = Statement(_LISTED.where(_O.c.reminder == bindparam("reminder")))


async def outbox_counts(pool: Pool, where: OutboxFilter) -> dict[State, int]:
    """How many messages of the cohort and rule asked for are in each state (the state filter is not applied:
    the counts are what a reader chooses a state by)."""
    async with pool.connection() as conn:
        names, params = _where(OutboxFilter(where.cohort_id, where.rule))
        cur = await execute(conn, _counts(names), **params)
        found = {state: int(n) for state, n in await cur.fetchall()}
    return {state: found.get(state, 0) for state in STATES}


async def latest_messages(pool: Pool, where: OutboxFilter, limit: int) -> list[ListedMessage]:
    """The ``limit`` messages queued last that ``where`` asks for, newest first (the reminder key orders the
    messages one firing queued together)."""
    async with pool.connection() as conn:
        names, params = _where(where)
        cur = await execute(conn, _latest(names), limit=limit, **params)
        return [ListedMessage(*row) for row in await cur.fetchall()]


async def outbox_message(pool: Pool, reminder: str) -> ListedMessage | None:
    """One message by its reminder key (``rule/recipient/occurrence``), or None."""
    async with pool.connection() as conn:
        cur = await execute(conn, _ONE, reminder=reminder)
        row = await cur.fetchone()
    return None if row is None else ListedMessage(*row)
