"""A cohort outlives an outage of the store longer than any retry budget, and shows as stalled while it lasts.

The outage is the store's own refusal: a trigger on ``events`` makes every
append fail as PostgreSQL does when its disk is full (SQLSTATE 53100), until the
test drops it. On the time-skipping server the outage lasts 10 minutes of
server time, past the 20 attempts (about 451 s) activities were once allowed;
on a dev server it lasts real seconds, and the stalled cohort is found by
listing the server's running workflows.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import sample_programme
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.services.cohorts import start_cohort
from cohortflow.services.execution import Execution, execution_of, stalled_cohorts
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.store_outage import Outage
from tests.workflows.helpers import event_types, eventually, running_worker

OLD_RETRY_BUDGET = timedelta(seconds=451)


async def start(client: Client, cohort_id: str, task_queue: str) -> WorkflowHandle[Any, Any]:
    inp = CohortCycleInput(cohort_id=cohort_id, programme=sample_programme(60, 10))
    return await start_cohort(client, inp, task_queue)


def assert_stalled_on_the_full_disk(found: Execution, started: datetime) -> None:
    assert found.state == "running" and found.stalled is not None, found
    assert "DiskFull" in found.stalled.reason and "No space left on device" in found.stalled.reason
    assert found.stalled.step == "record_cohort_started"
    assert abs(found.stalled.since - started) < timedelta(seconds=30), (found.stalled.since, started)


async def test_a_cohort_outlives_an_outage_longer_than_the_old_retry_budget(
    time_skipping: WorkflowEnvironment, store: EventStore, outage: Outage, task_queue: str
) -> None:
    outage.begin()
    async with running_worker(time_skipping.client, store, task_queue):
        handle = await start(time_skipping.client, "outage", task_queue)
        try:
            started = await time_skipping.get_current_time()
            # Skipped a minute at a time: each skip waits for the real retries it passes, and one skip of ten
            # minutes (some twenty retries) could outlast the test server's RPC deadline on a busy machine.
            for _ in range(math.ceil((OLD_RETRY_BUDGET + timedelta(minutes=3)) / timedelta(minutes=1))):
                await time_skipping.sleep(timedelta(minutes=1))
            during = await execution_of(time_skipping.client, handle.id)
            assert_stalled_on_the_full_disk(during, started)
            assert during.stalled is not None and during.stalled.attempt > 20
            assert await event_types(store, "outage") == {}

            outage.end()
            await time_skipping.sleep(timedelta(minutes=1))  # the next attempt is at most 30 s away
            await eventually(lambda: _recorded_start(store), "the cohort's start recorded after the outage")
            after = await execution_of(time_skipping.client, handle.id)
            assert after.state == "running" and after.stalled is None, after
            assert (await event_types(store, "outage"))["CohortStarted"] == 1
        finally:
            await handle.terminate(reason="test ended")


async def _recorded_start(store: EventStore) -> bool:
    return "CohortStarted" in await event_types(store, "outage")


async def test_the_stalled_cohorts_are_listed_from_the_server_while_the_store_is_out(
    dev_server: TemporalDevServer, store: EventStore, outage: Outage, task_queue: str
) -> None:
    client = await connect_client(dev_server.address)

    store_out = AsyncConnectionPool("", open=False)  # a server with visibility lists its own workflows

    outage.begin()
    async with running_worker(client, store, task_queue):
        started = datetime.now(UTC)
        stuck, healthy = await start(client, "stuck", task_queue), None
        try:
            await eventually(
                lambda: _listed(client, store_out, ["stuck"]), "the stalled cohort listed (its third attempt)"
            )
            (listed,) = await stalled_cohorts(client, store_out)
            assert listed.cohort_id == "stuck" and listed.stall.attempt >= 3
            assert_stalled_on_the_full_disk(Execution(state="running", stalled=listed.stall), started)

            outage.end()
            healthy = await start(client, "healthy", task_queue)
            await eventually(lambda: _listed(client, store_out, []), "the stall over", timeout=60)
            assert (await event_types(store, "stuck"))["CohortStarted"] == 1
            assert (await execution_of(client, stuck.id)).stalled is None
        finally:
            for handle in (stuck, healthy):
                if handle is not None:
                    await handle.terminate(reason="test ended")


async def _listed(client: Client, pool: AsyncConnectionPool[Any], expected: list[str]) -> bool:
    found = await stalled_cohorts(client, pool)
    return [s.cohort_id for s in found] == expected
