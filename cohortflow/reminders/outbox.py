"""Putting messages into the reminder outbox: once per reminder, whatever retries happen.

A reminder is identified by ``rule/recipient/occurrence``. Queueing inserts with
``ON CONFLICT DO NOTHING`` inside the transaction that records the
``RemindersQueued`` event, so an activity retried after a crash, or a workflow
replayed, leaves exactly the rows and events of the first attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime, time

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from cohortflow.domain.messages import Locale
from cohortflow.domain.reminder_rules import ReminderChannel


def reminder_key(rule: str, recipient: str, occurrence: str) -> str:
    return f"{rule}/{recipient}/{occurrence}"


@dataclass(frozen=True)
class OutboxMessage:
    """One row of ``reminder_outbox`` as queued."""

    reminder: str
    cohort_id: str
    stream_id: str
    """Where the message's ReminderSent/Failed/GaveUp events are appended."""
    rule: str
    occurrence: str
    recipient: str
    """A participant id, or ``coordinator-{prefecture}``."""
    participant_id: str | None
    channel: ReminderChannel
    address: str | None
    locale: Locale
    subject: str
    body: str
    time_zone: str
    quiet_start: time | None
    quiet_end: time | None
    status: str
    """``pending``, or ``gave_up`` at once when the recipient has no address on the channel."""
    last_error: str | None
    next_attempt_at: datetime
    """The earliest send: the due moment, moved past the recipient's quiet hours."""
    actor: str
    workflow_id: str
    programme_id: str
    programme_version: int


COLUMNS = tuple(f.name for f in fields(OutboxMessage))


async def enqueue(conn: AsyncConnection[TupleRow], messages: Sequence[OutboxMessage]) -> int:
    """Insert the messages not already queued (within the caller's transaction); returns how many were new."""
    if not messages:
        return 0
    async with conn.cursor() as cur:
        await cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS outbox_incoming (LIKE reminder_outbox INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        async with cur.copy(f"COPY outbox_incoming ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for message in messages:
                await copy.write_row(astuple(message))
        await cur.execute(
            f"INSERT INTO reminder_outbox ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM outbox_incoming "
            "ON CONFLICT (reminder) DO NOTHING"
        )
        inserted = cur.rowcount
        await cur.execute("DELETE FROM outbox_incoming")
    return inserted
