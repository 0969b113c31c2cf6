"""How far the reminder outbox is behind: messages waiting, those already due, and how late the oldest is."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import extract, func, select

from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

# Due-ness is judged by the database's clock (one clock for every API process; the dispatcher judges by its own
# wall clock). A message being sent ('sending') is still in the outbox until its outcome is recorded.
_o = t.reminder_outbox.c
_due = _o.next_attempt_at <= func.now()
BACKLOG = Statement(
    select(
        func.count(),
        func.count().filter(_due),
        func.coalesce(extract("epoch", func.now() - func.min(_o.next_attempt_at).filter(_due)), 0),
    ).where(_o.status.in_(("pending", "sending")))
)


@dataclass(frozen=True)
class OutboxBacklog:
    waiting: int
    """Messages not yet sent nor given up."""
    due: int
    """Of those, the ones whose time has come."""
    oldest_due_seconds: float
    """How long ago the oldest due message became due; 0 when none is."""


async def outbox_backlog(pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> OutboxBacklog:
    async with pool.connection() as conn:
        cur = await execute(conn, BACKLOG)
        row = await cur.fetchone()
    assert row is not None  # an aggregate without GROUP BY answers one row
    return OutboxBacklog(int(row[0]), int(row[1]), float(row[2]))
