"""The web console's targets: what a first visit transfers, the dashboard with 100 cohorts, and a person search
over 200,000 people.

The store gets 100 cohorts at nomination (their events appended as the activities would, then projected) and a
registry of people imported through the credit bank's own activity, 50,000 rows a file. The app is served by
uvicorn on 127.0.0.1 in this process and asked over real HTTP by one client, one request at a time, signed in
as an administrator through the sign-in form. Sizes are of what the server sends, and of the same bodies
gzip-compressed (as a proxy in front of it would send them).

    python -m bench.console [--cohorts 100] [--people 200000] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import uvicorn
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from bench.credit_bank import FILE_ROWS, people_file, stored
from bench.databases import scratch_store
from bench.progress import say
from cohortflow.access.accounts import create_account
from cohortflow.activities.credit_bank import BankActivities, PeopleImport
from cohortflow.api.app import create_app
from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.events import CandidateNominated, CohortStarted, Event, Metadata, PhaseOpened
from cohortflow.logs import configure_logging
from cohortflow.readmodels.projector import Projector
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent

PASSWORD = "bench password 1"


@dataclass(frozen=True)
class ConsoleFigures:
    cohorts: int
    people: int
    first_visit_bytes: int
    first_visit_gzip_bytes: int
    dashboard_p50_ms: float
    dashboard_p99_ms: float
    search_p50_ms: float
    search_p99_ms: float


async def cohorts_at_nomination(store: EventStore, count: int) -> None:
    programme = sample_programme(140, 20)
    keys = await store.person_keys()
    started_at = datetime.now(UTC)
    for k in range(count):
        cohort_id = f"console-{k:03d}"
        meta = Metadata(
            actor="bench",
            workflow_id=cohort_stream(cohort_id),
            programme_id=programme.id,
            programme_version=programme.version,
            step="load",
        ).model_dump()
        events: list[Event] = [
            CohortStarted(
                cohort_id=cohort_id,
                programme_id=programme.id,
                programme_version=programme.version,
                programme_digest=programme.digest,
                programme=programme.model_dump(mode="json"),
                started_at=started_at,
                day_seconds=86400,
            ),
            PhaseOpened(phase="nomination", deadline=started_at + timedelta(days=3 + k % 20)),
        ]
        events += [
            CandidateNominated(
                participant_id=n.participant_id,
                person_key=keys.of(n.national_id),
                name=n.name,
                national_id=n.national_id,
                gender="M" if n.gender == "M" else "F",
                prefecture_code=n.prefecture_code,
                school=n.school,
                role=n.role,
            )
            for n in nominees(programme, k)
        ]
        batch = [NewEvent(e.TYPE, e.payload(), meta, e.SCHEMA_VERSION) for e in events]
        await store.append(cohort_stream(cohort_id), batch, idempotency_key=f"load/{cohort_id}")


async def registry(store: EventStore, people: int, uploads: Path) -> None:
    acts, env = BankActivities(store, uploads), ActivityEnvironment()
    for first in range(0, people, FILE_ROWS):
        path = uploads / "people.csv"
        people_file(path, first, min(FILE_ROWS, people - first))
        req = PeopleImport(
            digest=stored(uploads, path), filename="p.csv", request_id=f"p-{first}", at=datetime.now(UTC)
        )
        outcome = await env.run(acts.import_people, req)
        assert outcome.status == "applied", outcome.problems[:3]
        say(f"people {first + outcome.registered:,}/{people:,}")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 2)


async def timed(http: httpx.AsyncClient, paths: list[str]) -> list[float]:
    taken = []
    for path in paths:
        began = time.perf_counter()
        answer = await http.get(path)
        taken.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return taken


async def measure(url: str, cohorts: int, people: int, requests: int, uploads: Path) -> ConsoleFigures:
    store = await EventStore.connect(url, max_size=4)
    try:
        await cohorts_at_nomination(store, cohorts)
        say(f"{cohorts} cohorts stored")
        await registry(store, people, uploads)
        await Projector(store).catch_up(wait=True)
        say("read models up to date")
        await create_account(store.pool, name="bench", password=PASSWORD, role="admin", created_by="bench")
    finally:
        await store.close()
    app = create_app(Settings(), url, temporal=cast(Client, object()))  # these pages ask Temporal nothing
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            form = await http.get("/console/sign-in")
            style = await http.get("/console/static/console.css")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            signed = await http.post(
                "/console/sign-in", data={"name": "bench", "password": PASSWORD, "csrf": csrf.group(1)}
            )
            assert signed.status_code == 303, signed.text
            dashboard = await http.get("/console/dashboard")
            assert dashboard.status_code == 200 and dashboard.text.count("<tr>") > cohorts
            bodies = [form.content, style.content, dashboard.content]
            dashboards = await timed(http, ["/console/dashboard"] * requests)
            rng = random.Random(7)
            searches = await timed(http, [f"/console/people?name=教师{rng.randrange(people)}" for _ in range(requests)])
    finally:
        server.should_exit = True
        await serving
    return ConsoleFigures(
        cohorts=cohorts,
        people=people,
        first_visit_bytes=sum(len(b) for b in bodies),
        first_visit_gzip_bytes=sum(len(gzip.compress(b)) for b in bodies),
        dashboard_p50_ms=round(statistics.median(dashboards), 2),
        dashboard_p99_ms=percentile(dashboards, 99),
        search_p50_ms=round(statistics.median(searches), 2),
        search_p99_ms=percentile(searches, 99),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    with scratch_store("cohortflow-console-bench-", "bench_console") as (url, uploads):
        say(f"the console with {args.cohorts} cohorts and {args.people:,} people")
        figures = asyncio.run(measure(url, args.cohorts, args.people, args.requests, uploads))
    for name, value in asdict(figures).items():
        print(f"{name:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
