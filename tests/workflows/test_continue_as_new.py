"""Continue-as-new when Temporal suggests it, mid-phase, on a real dev server.

The dev server is told to suggest continue-as-new after 30 history events, far
sooner than the ~4,096 it uses by default, so the follow-up phase (four survey
moments and the reminder rules' timers) has to hand over to a new run in its
middle and must neither repeat nor skip a reminder occurrence or a phase.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cohortflow.audit.histories import run_chain
from cohortflow.audit.verify import verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.services.cohorts import start_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import CohortCycleInput, Counters
from tests.workflows.helpers import event_types, first_run_id, running_worker


@pytest.fixture
def eager_server() -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(None, headless=True, dynamic_config={"limit.historyCount.suggestContinueAsNew": "30"})
    yield server
    server.stop()


async def test_suggested_continue_as_new_mid_phase_loses_and_repeats_nothing(
    eager_server: TemporalDevServer, store: EventStore, task_queue: str
) -> None:
    client = await connect_client(eager_server.address)
    programme = sample_programme(200, 24, reminders=True)
    inp = CohortCycleInput(cohort_id="can", programme=programme, day_seconds=0.01)
    async with running_worker(client, store, task_queue):
        handle = await start_cohort(client, inp, task_queue)
        result = await handle.result()
        histories = await run_chain(client, handle.id, first_run_id(handle))

    assert len(histories) > 7, "some phase should have continued as new in its middle"
    counts = await event_types(store, "can")
    assert counts["PhaseOpened"] == counts["PhaseClosed"] == 7
    # Reminder timers hand over too: each occurrence queued once (2 + 1 + 1 + 3 + 3 of the sample's rules).
    queued = [e.metadata["step"] async for e in store.read_stream("cohort-can", types=["RemindersQueued"])]
    assert len(queued) == len(set(queued)) == 10
    assert result.counters == Counters()  # nobody was nominated: the calendar alone ran its course
    assert (await verify_store(store)).ok
