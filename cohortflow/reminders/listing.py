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
from typing import Any, Literal, get_args

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

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


_STATE_SQL = "CASE o.status WHEN 'sent' THEN 'sent' WHEN 'gave_up' THEN 'gave_up' ELSE 'queued' END"
_SELECT = f"""
SELECT o.reminder, o.cohort_id, o.rule, o.occurrence, o.recipient, o.participant_id, o.channel, o.address, o.locale,
       {_STATE_SQL}, o.attempts, o.last_error, o.queued_at, o.next_attempt_at, o.sent_at,
       CASE WHEN o.status = 'gave_up' THEN coalesce(
           (SELECT e.recorded_at FROM events e WHERE e.idempotency_key = 'reminder/' || o.reminder || '/gave-up#0'),
           o.queued_at) END,
       o.subject, o.body
  FROM reminder_outbox o
"""


def _where(where: OutboxFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause naming only the filters given, and its parameters.

    Only the conditions asked for are written, rather than ``(%s IS NULL OR …)`` for each: a statement the driver
    has prepared may be planned once for any parameters, and such a plan could not use the index a given filter
    needs."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if where.cohort_id is not None:
        conditions.append("o.cohort_id = %(cohort)s")
        params["cohort"] = where.cohort_id
    if where.rule is not None:
        conditions.append("o.rule = %(rule)s")
        params["rule"] = where.rule
    if where.state is not None:
        conditions.append("o.status = ANY(%(statuses)s)")
        params["statuses"] = list(STATUSES[where.state])
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), params


async def outbox_counts(pool: Pool, where: OutboxFilter) -> dict[State, int]:
    """How many messages of the cohort and rule asked for are in each state (the state filter is not applied:
    the counts are what a reader chooses a state by)."""
    async with pool.connection() as conn:
        clause, params = _where(OutboxFilter(where.cohort_id, where.rule))
        cur = await conn.execute(f"SELECT {_STATE_SQL}, count(*) FROM reminder_outbox o {clause} GROUP BY 1", params)
        found = {state: int(n) for state, n in await cur.fetchall()}
    return {state: found.get(state, 0) for state in STATES}


async def latest_messages(pool: Pool, where: OutboxFilter, limit: int) -> list[ListedMessage]:
    """The ``limit`` messages queued last that ``where`` asks for, newest first (the reminder key orders the
    messages one firing queued together)."""
    async with pool.connection() as conn:
        clause, params = _where(where)
        cur = await conn.execute(
            f"{_SELECT} {clause} ORDER BY o.queued_at DESC, o.reminder DESC LIMIT %(limit)s", params | {"limit": limit}
        )
        return [ListedMessage(*row) for row in await cur.fetchall()]


async def outbox_message(pool: Pool, reminder: str) -> ListedMessage | None:
    """One message by its reminder key (``rule/recipient/occurrence``), or None."""
    async with pool.connection() as conn:
        cur = await conn.execute(f"{_SELECT} WHERE o.reminder = %(reminder)s", {"reminder": reminder})
        row = await cur.fetchone()
    return None if row is None else ListedMessage(*row)
