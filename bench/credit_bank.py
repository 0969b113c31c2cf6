"""The credit bank at size: people and credits imported through the real activities, then the reads timed.

Generated files of 50,000 rows go through the bank's activities (in Temporal's
``ActivityEnvironment``, as the worker would run them): first the people, then
the school credits, each file timed with the process's peak memory. The read
models are brought up to date, then, timed:

1. one person's standing against every rule (``person_standing``) for random
   people, p50 and p99;
2. the standing report of one county of 5,000 people, behind or not;
3. that county's annual review: opened, each of its 50 schools' lists submitted and approved, the last approval
   locking the year.

    .venv/bin/python -m bench.credit_bank [--people 20000] [--entries 200000]

The issue's targets are at 200,000 people and 2,000,000 entries
(``--people 200000 --entries 2000000``, about 40 minutes on two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import random
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from temporalio.testing import ActivityEnvironment

from bench.databases import scratch_store
from bench.memory import MB, PeakRss
from bench.progress import say
from cohortflow.activities.credit_bank import BankActivities, BankOutcome, CreditsImport, PeopleImport
from cohortflow.activities.reviews import OpenReview, RecordListStep, ReviewActivities, ReviewRef
from cohortflow.domain.national_id import check_char
from cohortflow.logs import configure_logging
from cohortflow.readmodels.bank import PersonFilter, person, person_standing, shipped_requirements
from cohortflow.readmodels.projector import Projector
from cohortflow.readmodels.standing_report import standing_report
from cohortflow.store.eventstore import EventStore, libpq_url

FILE_ROWS = 50_000
COUNTY_PEOPLE = 5_000
SCHOOL_PEOPLE = 100
PREFECTURE = "510100"
LEVELS = ("省级", "市级", "区县级", "校级", "校级", "校级", "校级", "校级", "市级", "区县级")
"""Drawn uniformly: about the 10/20/20/50% target shares."""
AS_OF = date(2026, 6, 30)


@dataclass(frozen=True)
class BankFigures:
    people: int
    entries: int
    people_import_seconds: list[float]
    credits_import_seconds: list[float]
    credits_import_peak_mb: list[float]
    projection_seconds: float
    statement_p50_ms: float
    statement_p99_ms: float
    county_people: int
    county_report_seconds: float
    county_behind: int
    county_schools: int
    review_approval_seconds: float
    """Opening the county's review, then every school's list submitted and approved, the last locking the year."""


def national_id(n: int) -> str:
    """A valid, distinct ID number per person: a birth date from 1965 on and ``n`` in the sequence digits."""
    born = date(1965, 1, 1) + timedelta(days=n % 12_000)
    first = f"510104{born:%Y%m%d}{n // 12_000:03d}"
    return first + check_char(first)


def people_file(path: Path, first: int, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["姓名", "身份证号", "职务", "任职时间", "学校", "区县代码", "市州代码"])
        for n in range(first, first + count):
            post = "校长" if n % SCHOOL_PEOPLE == 0 else "教师"
            took = "2024-09-01" if post == "校长" else ""
            county = f"5101{n // COUNTY_PEOPLE + 1:02d}"  # 510101, 510102, … in prefecture 510100
            writer.writerow([f"教师{n}", national_id(n), post, took, f"学校{n // SCHOOL_PEOPLE}", county, PREFECTURE])


def credits_file(path: Path, first: int, count: int, people: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["身份证号", "培训名称", "学时", "级别", "培训类别", "结束日期", "天数"])
        for n in range(first, first + count):
            earned = date(2021, 1, 1) + timedelta(days=rng.randrange(2_000))
            writer.writerow(
                [national_id(n % people), f"研修{n}", rng.choice((6, 12, 24, 36, 48)), rng.choice(LEVELS), "校本研修",
                 earned.isoformat(), 3]
            )  # fmt: skip


def stored(uploads: Path, path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    shutil.move(path, uploads / digest)
    return digest


async def measure(database_url: str, people: int, entries: int, uploads: Path) -> BankFigures:
    store = await EventStore.connect(database_url, max_size=8)
    rng = random.Random(2026)
    try:
        acts, env = BankActivities(store, uploads), ActivityEnvironment()
        people_seconds: list[float] = []
        for first in range(0, people, FILE_ROWS):
            path = uploads / "people.csv"
            people_file(path, first, min(FILE_ROWS, people - first))
            people_req = PeopleImport(
                digest=stored(uploads, path), filename="people.csv", request_id=f"people-{first}", at=datetime.now(UTC)
            )
            began = time.perf_counter()
            outcome: BankOutcome = await env.run(acts.import_people, people_req)
            people_seconds.append(time.perf_counter() - began)
            assert outcome.status == "applied", outcome.problems[:5]
            say(f"people {first + outcome.registered:,}/{people:,}: {people_seconds[-1]:.1f} s")
        credit_seconds: list[float] = []
        peaks: list[float] = []
        for first in range(0, entries, FILE_ROWS):
            path = uploads / "credits.csv"
            credits_file(path, first, min(FILE_ROWS, entries - first), people, rng)
            req = CreditsImport(
                digest=stored(uploads, path),
                filename="credits.csv",
                recorded_by="学校",
                request_id=f"credits-{first}",
                at=datetime.now(UTC),
            )
            with PeakRss() as rss:
                began = time.perf_counter()
                outcome = await env.run(acts.import_bank_credits, req)
                credit_seconds.append(time.perf_counter() - began)
            peaks.append(rss.peak / MB)
            assert outcome.status == "applied", outcome.problems[:5]
            say(
                f"credits {first + outcome.recorded:,}/{entries:,}: {credit_seconds[-1]:.1f} s, peak {peaks[-1]:.0f} MB"
            )
        began = time.perf_counter()
        await Projector(store).catch_up(wait=True)
        projection = time.perf_counter() - began
        say(f"read models up to date in {projection:.1f} s")

        book = shipped_requirements()
        keys = [(await store.person_keys()).of(national_id(rng.randrange(people))) for _ in range(500)]
        timings: list[float] = []
        async with store.pool.connection() as conn:
            for key in keys:
                began = time.perf_counter()
                facts = await person(conn, key)
                assert facts is not None
                await person_standing(conn, facts, book, AS_OF)
                timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        county = PersonFilter(county_code="510101")
        began = time.perf_counter()
        report = await standing_report(store.pool, county, book, AS_OF, behind_only=True)
        county_seconds = time.perf_counter() - began
        ref = ReviewRef(district=county.county_code or "", year=AS_OF.year - 1, actor="bench")
        reviews = ReviewActivities(store)
        began = time.perf_counter()
        schools = await env.run(reviews.open_review, OpenReview(ref=ref, deadline=AS_OF))
        for i, school in enumerate(schools):
            for state in ("submitted", "approved"):
                last = state == "approved" and i == len(schools) - 1
                step = RecordListStep(ref=ref, step=f"{state}/{school}", school=school, state=state, locks_year=last)
                await env.run(reviews.record_list_step, step)
        approval = time.perf_counter() - began
        return BankFigures(
            people=people,
            entries=entries,
            people_import_seconds=[round(s, 2) for s in people_seconds],
            credits_import_seconds=[round(s, 2) for s in credit_seconds],
            credits_import_peak_mb=[round(p) for p in peaks],
            projection_seconds=round(projection, 2),
            statement_p50_ms=round(statistics.median(timings), 2),
            statement_p99_ms=round(timings[int(len(timings) * 0.99) - 1], 2),
            county_people=sum(s.people for s in report.schools),
            county_report_seconds=round(county_seconds, 3),
            county_behind=sum(s.behind for s in report.schools),
            county_schools=len(schools),
            review_approval_seconds=round(approval, 3),
        )
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.credit_bank", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument(
        "--no-autovacuum",
        action="store_true",
        help="switch autovacuum off, so that the store's own statistics upkeep after bulk appends is all there is",
    )
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    with scratch_store("cohortflow-bank-bench-", "bench_bank") as (url, uploads):
        if args.no_autovacuum:
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET autovacuum = off")
                conn.execute("SELECT pg_reload_conf()")
        say(f"the credit bank with {args.people:,} people and {args.entries:,} school credits")
        figures = asyncio.run(measure(url, args.people, args.entries, uploads))
    for name, value in asdict(figures).items():
        print(f"{name:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
