"""What every demo run shares: a worker on the time-skipping server, and the clock that reminders go out on."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.feeding import Advance, skip_past
from cohortflow.reminders.dispatcher import DispatchCounts, Dispatcher
from cohortflow.runtime.time_skipping import SkippingStack
from cohortflow.settings import Settings
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.sql import Statement, execute
from cohortflow.worker import build_worker

_outbox = t.reminder_outbox.c
_NEXT_DUE = Statement(
    select(func.min(_outbox.next_attempt_at)).where(
        _outbox.cohort_id == bindparam("cohort"),
        _outbox.status == "pending",
        _outbox.next_attempt_at <= bindparam("now"),
    )
)


@dataclass
class DemoSession:
    env: WorkflowEnvironment
    store: EventStore
    task_queue: str
    uploads: Path
    cohort_id: str
    dispatcher: Dispatcher | None
    dispatched: DispatchCounts = field(default_factory=DispatchCounts)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The programme's clock as of the last time the demo let time pass."""

    @property
    def client(self) -> Client:
        return self.env.client

    def advance(self) -> Advance:
        """Let programme time pass; then, with a channel configured, send every reminder due by then."""
        skip = skip_past(self.env)

        async def advance(moment: datetime) -> None:
            await skip(moment)
            if self.dispatcher is not None:
                await self._dispatch_until(await self.env.get_current_time())

        return advance

    async def _dispatch_until(self, now: datetime) -> None:
        """Run the dispatcher at each moment a message fell due, as one running all along would have.

        Its clock is the moment itself, so a message held for the recipient's quiet
        hours goes out when they end, not at whatever hour the demo next looks.
        """
        assert self.dispatcher is not None
        last: datetime | None = None
        while (due := await self._next_due(now)) is not None and (last is None or due > last):
            self.now = last = due
            self.dispatched.add(await self.dispatcher.run_once())
        self.now = now

    async def _next_due(self, now: datetime) -> datetime | None:
        async with self.store.pool.connection() as conn:
            cur = await execute(conn, _NEXT_DUE, cohort=self.cohort_id, now=now)
            row = await cur.fetchone()
        return row[0] if row else None


@asynccontextmanager
async def demo_session(stack: SkippingStack, uploads: Path, settings: Settings) -> AsyncIterator[DemoSession]:
    """A worker beside the caller until the block ends; reminders are dispatched if a channel is configured."""
    store = await EventStore.connect(stack.database_url)
    try:
        task_queue = f"cohortflow-demo-{uuid.uuid4().hex[:8]}"
        cohort_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        session = DemoSession(stack.env, store, task_queue, uploads, cohort_id, None)
        if settings.smtp_host or settings.webhook_url:
            session.dispatcher = await Dispatcher.from_settings(store, settings, clock=lambda: session.now)
        try:
            async with build_worker(stack.env.client, store, task_queue, uploads):
                yield session
        finally:
            if session.dispatcher is not None:
                await session.dispatcher.close()
    finally:
        await store.close()
