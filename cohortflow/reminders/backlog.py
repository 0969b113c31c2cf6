"""How far the reminder outbox is behind: messages waiting, those already due, and how late the oldest is."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

# Due-ness is judged by the database's clock (one clock for every API process; the dispatcher judges by its own
# wall clock). A message being sent ('sending') is still in the outbox until its outcome is recorded.
BACKLOG_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE next_attempt_at <= now()),
       coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)
  FROM reminder_outbox
 WHERE status IN ('pending', 'sending')
"""


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
        cur = await conn.execute(BACKLOG_SQL)
        row = await cur.fetchone()
    assert row is not None  # an aggregate without GROUP BY answers one row
    return OutboxBacklog(int(row[0]), int(row[1]), float(row[2]))
