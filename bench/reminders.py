"""Reminders end to end: 5,000 computed from the read models and handed to a local SMTP server.

A cohort of N nominees is recorded through the real activities (no study hours
yet, so every one of them is behind on the online-study rule), and the read
models are brought up to date. Then, timed:

1. *compute*: the ``queue_reminders`` activity for the 7-day study-hours
   occurrence, in Temporal's ``ActivityEnvironment``: recipients from the read
   models, each message rendered in its reader's language, the outbox rows and
   the RemindersQueued/ReminderGaveUp events in one transaction;
2. *hand over*: one ``Dispatcher.run_once()`` with the default settings to an
   aiosmtpd server in its own process, each message's ``sent`` committed with
   its ReminderSent event, until the server has accepted every message.

    .venv/bin/python -m bench.reminders [--count 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from bench.databases import create_database
from bench.progress import say
from bench.reminder_dispatch import smtp_sink
from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.cycle_records import RecordCohortStarted
from cohortflow.activities.reminders import QueueReminders
from cohortflow.demo.feeding import import_in
from cohortflow.demo.phase_feed import nominees
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.cycle import CycleState
from cohortflow.domain.reminder_schedule import reminders_due
from cohortflow.logs import configure_logging
from cohortflow.readmodels.projector import Projector
from cohortflow.reminders.dispatcher import Dispatcher
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

COHORT = "bench-reminders"


@dataclass(frozen=True)
class ReminderFigures:
    nominees: int
    recipients: int
    queued: int
    unreachable: int
    compute_seconds: float
    hand_over_seconds: float
    total_seconds: float
    sent: int
    received: int


async def measure(database_url: str, count: int, uploads: Path) -> ReminderFigures:
    store = await EventStore.connect(database_url, max_size=8)
    try:
        programme = sample_programme(count, min(800, count // 2), reminders=True)
        # At 02:00 UTC (10:00 in Shanghai) the reminders fall outside the programme's quiet hours whatever
        # the time of day the benchmark runs; otherwise every message would wait for the morning.
        started_at = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
        ref = CohortRef(cohort_id=COHORT, workflow_id=f"cohort-{COHORT}", actor="bench")
        acts, env = Activities(store, uploads), ActivityEnvironment()
        await env.run(
            acts.record_cohort_started,
            RecordCohortStarted(ref=ref, programme=programme, started_at=started_at, day_seconds=86_400),
        )
        nominated = await import_in(env, acts, ref, nominees(programme, seed=2023))
        await Projector(store).catch_up(wait=True)
        online = CycleState(started_at=started_at, day_seconds=86_400, phase_index=1)
        due = next(d for d in reminders_due(programme, online) if d.rule == "study-hours")

        with smtp_sink() as sink:
            settings = Settings(database_url=database_url, smtp_host=sink.host, smtp_port=sink.port)
            began = time.perf_counter()
            queued = await env.run(acts.queue_reminders, QueueReminders(ref=ref, due=due))
            computed = time.perf_counter()
            dispatcher = await Dispatcher.from_settings(store, settings, clock=lambda: due.at)
            try:
                counts = await dispatcher.run_once()
                deliverable = queued.queued - queued.unreachable
                while sink.received < deliverable and time.perf_counter() - computed < 120:
                    await asyncio.sleep(0.01)
            finally:
                await dispatcher.close()
            finished = time.perf_counter()
            received = sink.received
        return ReminderFigures(
            nominees=nominated.applied,
            recipients=queued.recipients,
            queued=queued.queued,
            unreachable=queued.unreachable,
            compute_seconds=computed - began,
            hand_over_seconds=finished - computed,
            total_seconds=finished - began,
            sent=counts.sent,
            received=received,
        )
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="cohortflow-reminders-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
    try:
        url = create_database(pg.url("postgres"), "bench_reminders")
        say(f"{args.count:,} nominees behind on study hours: computing their reminders and sending them")
        figures = asyncio.run(measure(url, args.count, workdir / "uploads"))
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for name, value in asdict(figures).items():
        print(f"{name:>18}: {value:,.2f}" if isinstance(value, float) else f"{name:>18}: {value:,}")
    ok = figures.sent == figures.received == figures.queued - figures.unreachable
    print(
        f"{figures.queued:,} reminders computed and {figures.received:,} handed to the SMTP server "
        f"in {figures.total_seconds:.2f} s "
        f"(compute {figures.compute_seconds:.2f} s, hand over {figures.hand_over_seconds:.2f} s); "
        f"{figures.unreachable} without an address given up" + ("" if ok else " — NOT ALL DELIVERED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
