"""A worker killed (SIGKILL) and restarted mid-phase: no event lost, none duplicated.

The worker runs as a real `cohortflow worker` process against a dev server on a
SQLite file; it is killed twice — once while the nomination sheet is being
imported and once while the field-study sites run — and started again each
time. Programme days last 10 ms; nomination and online study are held open by
an extension while their files are imported, then closed early, as an
administrator would once every prefecture's sheet is in.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cohortflow.audit.verify import verify_store
from cohortflow.demo.feeding import import_files
from cohortflow.demo.phase_feed import PhaseFeed
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.programme import PhaseKind
from cohortflow.runtime.temporal import TemporalDevServer, installed_binary
from cohortflow.services.cohorts import start_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import ClosePhase, CohortCycleInput, CohortCycleWorkflow, ExtendDeadline
from tests.workflows.helpers import event_types, wait_for_status

CANDIDATES, SELECTED = 3000, 300


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(tmp_path / "temporal.sqlite", headless=True)
    yield server
    server.stop()


def start_worker(database_url: str, address: str, task_queue: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": address,
        "COHORTFLOW_TASK_QUEUE": task_queue,
        "COHORTFLOW_LOG_FORMAT": "json",
        "COHORTFLOW_UPLOADS_DIR": str(log.parent / "uploads"),
    }
    with log.open("ab") as out:
        return subprocess.Popen([installed_binary("cohortflow"), "worker"], env=env, stdout=out, stderr=out)


def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait()


async def test_worker_killed_mid_phase_loses_and_duplicates_nothing(
    server: TemporalDevServer, store: EventStore, database_url: str, task_queue: str, tmp_path: Path
) -> None:
    client = await connect_client(server.address)
    log, uploads = tmp_path / "worker.log", tmp_path / "uploads"
    programme = sample_programme(CANDIDATES, SELECTED)
    feed = PhaseFeed(client, store, "crash", programme, seed=5)
    worker = start_worker(database_url, server.address, task_queue, log)
    try:
        handle = await start_cohort(
            client, CohortCycleInput(cohort_id="crash", programme=programme, day_seconds=0.01), task_queue
        )
        wf = client.get_workflow_handle_for(CohortCycleWorkflow.run, handle.id)

        async def hold_open(phase: PhaseKind) -> None:
            status = await wait_for_status(client, handle.id, lambda s: s.phase == phase, timeout=60)
            assert status.deadline is not None
            later = status.deadline + timedelta(days=100_000)
            await wf.execute_update(
                CohortCycleWorkflow.extend_deadline, ExtendDeadline(phase=phase, new_deadline=later, reason="files due")
            )

        await hold_open("nomination")
        importing = asyncio.ensure_future(
            import_files(client, uploads, "crash", "nomination", await feed.files("nomination"), scoped=False)
        )
        await asyncio.sleep(0.5)
        kill(worker)  # while the nomination sheet is being imported or just after
        worker = start_worker(database_url, server.address, task_queue, log)
        (nominated,) = await asyncio.wait_for(importing, timeout=120)
        assert (nominated.status, nominated.applied) == ("applied", CANDIDATES)
        await wf.execute_update(CohortCycleWorkflow.close_phase, ClosePhase(phase="nomination", reason="all in"))

        await hold_open("online_study")
        await import_files(client, uploads, "crash", "online_study", await feed.files("online_study"), scoped=False)
        await wf.execute_update(CohortCycleWorkflow.close_phase, ClosePhase(phase="online_study", reason="all in"))

        await wait_for_status(client, handle.id, lambda s: s.phase == "field_study", timeout=120)
        kill(worker)  # while the site child workflows wait on their batch timers
        await asyncio.sleep(1)
        worker = start_worker(database_url, server.address, task_queue, log)
        result = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        worker.terminate()
        worker.wait(30)

    counts = await event_types(store, "crash")
    assert counts["CandidateNominated"] == counts["StudyHoursRecorded"] == CANDIDATES
    assert counts["SelectionDecided"] == 1
    assert counts["FieldPlacementAssigned"] == SELECTED
    assert counts["FieldBatchCompleted"] == 6
    assert counts["PhaseOpened"] == counts["PhaseClosed"] == 7
    assert counts["CohortCompleted"] == 1
    assert result.counters.completed == counts["ParticipantCompleted"]
    per_person = Counter(
        [
            (e.type, e.data.get("participant_id"), e.data.get("deliverable"), e.data.get("phase"))
            async for e in store.read_stream("cohort-crash")
        ]
    )
    repeated = {k: n for k, n in per_person.items() if k[1] is not None and n > 1}
    assert repeated == {}
    assert (await verify_store(store)).ok
