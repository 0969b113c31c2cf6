"""Heartbeats for steps that take long without progress of their own to report.

An activity heartbeats so that a worker that dies mid-step is noticed within the heartbeat timeout rather
than the whole activity timeout. A step made of a few large database calls (choosing 50,000 reminder
recipients, one COPY of their messages) has no loop to heartbeat from; this beats on a timer while it runs.
A hung call is still bounded by the activity's start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

BEAT_EVERY = 3.0
"""Seconds between beats: well inside the 15 s heartbeat timeout, even with a busy event loop."""


@contextlib.asynccontextmanager
async def heartbeating(every: float = BEAT_EVERY) -> AsyncIterator[None]:
    """Heartbeat every ``every`` seconds while the body runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
