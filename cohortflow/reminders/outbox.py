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
from sqlalchemy import column, delete, select, table
from sqlalchemy.dialects.postgresql import insert as upsert

from cohortflow.domain.messages import Locale
from cohortflow.domain.reminder_rules import ReminderChannel
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement


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
# A batch's rows are copied into a temporary table of the outbox's shape (COPY and CREATE TABLE ... LIKE have no
# Core form), then inserted from it: one statement however many messages.
INCOMING = table("outbox_incoming", *(column(name) for name in COLUMNS))
CREATE_INCOMING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {INCOMING.name} (LIKE {t.reminder_outbox.name} INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
COPY_INCOMING = f"COPY {INCOMING.name} ({', '.join(COLUMNS)}) FROM STDIN"
INSERT_NEW = Statement(
    upsert(t.reminder_outbox)
    .from_select(COLUMNS, select(INCOMING))
    .on_conflict_do_nothing(index_elements=[t.reminder_outbox.c.reminder])
)
EMPTY_INCOMING = Statement(delete(INCOMING))


async def enqueue(conn: AsyncConnection[TupleRow], messages: Sequence[OutboxMessage]) -> int:
    """Insert the messages not already queued (within the caller's transaction); returns how many were new."""
    if not messages:
        return 0
    async with conn.cursor() as cur:
        await cur.execute(CREATE_INCOMING)
        async with cur.copy(COPY_INCOMING) as copy:
            for message in messages:
                await copy.write_row(astuple(message))
        await cur.execute(INSERT_NEW.sql, INSERT_NEW.args())
        inserted = cur.rowcount
        await cur.execute(EMPTY_INCOMING.sql, EMPTY_INCOMING.args())
    return inserted
