from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from cohortflow.activities.heartbeats import heartbeating


async def test_a_long_step_without_progress_of_its_own_heartbeats_until_it_ends() -> None:
    beats: list[float] = []
    loop = asyncio.get_running_loop()

    @activity.defn
    async def long_step() -> str:
        async with heartbeating(every=0.05):
            await asyncio.sleep(0.3)  # one slow database call, say
        ended = loop.time()
        await asyncio.sleep(0.2)  # after the body: no more beats
        assert all(beat <= ended for beat in beats)
        return "done"

    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(loop.time())
    assert await env.run(long_step) == "done"
    assert len(beats) >= 4  # the first at once, then every 0.05 s of the 0.3 s
