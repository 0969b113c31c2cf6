"""Coordinators' weekly digests on a real dev server (the time-skipping server has no Schedules)."""

from __future__ import annotations

from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.demo.sample import PREFECTURES, sample_programme
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.services.cohorts import start_cohort
from cohortflow.services.digest_schedules import schedule_id
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.workflows.helpers import eventually, running_worker


async def digests_queued(store: EventStore, cohort_id: str) -> list[tuple[str, str, str]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT recipient, address, body FROM reminder_outbox WHERE cohort_id = %s AND rule = 'weekly'",
            (cohort_id,),
        )
        return [(r, a, b) for r, a, b in await cur.fetchall()]


async def runs_finished(client: Client, schedule: ScheduleHandle, count: int) -> bool:
    actions = (await schedule.describe()).info.recent_actions
    if len(actions) < count:
        return False
    for action in actions:
        run = action.action
        handle = client.get_workflow_handle(run.workflow_id, run_id=run.first_execution_run_id)  # type: ignore[attr-defined]
        if (await handle.describe()).close_time is None:
            return False
    return True


async def test_weekly_digests_run_on_a_schedule_until_the_cohort_completes(
    dev_server: TemporalDevServer, store: EventStore, task_queue: str
) -> None:
    client = await connect_client(dev_server.address)
    programme = sample_programme(200, 24, digests=True)
    # A programme day of 20 ms: the whole cycle takes about 20 s of wall time.
    inp = CohortCycleInput(cohort_id="dg", programme=programme, day_seconds=0.02)
    async with running_worker(client, store, task_queue):
        handle = await start_cohort(client, inp, task_queue)
        schedule = client.get_schedule_handle(schedule_id("dg", "weekly"))
        spec = (await schedule.describe()).schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        (calendar,) = spec.calendars
        assert [r.start for r in calendar.day_of_week] == [1] and [r.start for r in calendar.hour] == [9]

        await schedule.trigger()
        await eventually(lambda: runs_finished(client, schedule, 1), "the first digest run")
        first = await digests_queued(store, "dg")
        assert sorted(r for r, _, _ in first) == sorted(f"coordinator-{code}" for code, _ in PREFECTURES)
        assert all(address and address.startswith("coordinator-") for _, address, _ in first)
        assert all("推荐" in body for _, _, body in first)

        # The same week again (a repeated run, a retry): nothing new is queued.
        await schedule.trigger()
        await eventually(lambda: runs_finished(client, schedule, 2), "the second digest run")
        assert len(await digests_queued(store, "dg")) == len(first)
        queued = [e async for e in store.read_stream("digests-dg", types=["RemindersQueued"])]
        assert len(queued) == 1

        await handle.result()
        await schedule.trigger()

        async def schedule_gone() -> bool:
            try:
                await schedule.describe()
            except RPCError as exc:
                return exc.status == RPCStatusCode.NOT_FOUND
            return False

        await eventually(schedule_gone, "the completed cohort's schedule deleted")
    assert len(await digests_queued(store, "dg")) == len(first)
