"""`cohortflow rebuild-read-models` projects the whole log again from the first event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.cycle_records import RecordCohortStarted
from cohortflow.cli.main import app
from cohortflow.demo.sample import sample_programme
from cohortflow.store.eventstore import EventStore


async def test_rebuild_projects_every_event_again(database_url: str, store: EventStore) -> None:
    ref = CohortRef(cohort_id="rb", workflow_id="cohort-rb")
    started = RecordCohortStarted(
        ref=ref, programme=sample_programme(120, 20), started_at=datetime(2024, 3, 1, tzinfo=UTC), day_seconds=86_400
    )
    await ActivityEnvironment().run(Activities(store).record_cohort_started, started)

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["rebuild-read-models"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    assert f"read models rebuilt from {(await store.head()).position:,} events" in result.stdout
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT cohort_id, programme_version FROM rm_cohorts").fetchall()
    assert rows == [("rb", 1)]
