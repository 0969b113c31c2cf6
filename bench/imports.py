"""(g) A nominee import of N rows through the real import activity, each size in a fresh process.

The parent writes a GB18030 nominee CSV into an uploads directory under its
SHA-256 digest and starts ``python -m bench.imports`` for it. The child opens
the cohort (``record_cohort_started``), takes its resident memory as the
baseline and runs ``import_records`` in Temporal's ``ActivityEnvironment``:
encoding detection, the checking pass, the second pass streamed into one
``COPY``. It prints one JSON line with the wall time and the memory growth.

With ``--tracemalloc`` the child also traces Python allocations (slower, so it
is a separate run) and reports what was alive at the traced peak, which says
what holds memory if the growth is not flat in the file size.

Only this part of ``bench.admin_run``, on its own embedded PostgreSQL, the same
way (a fresh database and process per size, then again traced)::

    .venv/bin/python -m bench.imports --measure 5000 20000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from bench.databases import create_database
from bench.machine import code_version
from bench.memory import PeakRss
from bench.progress import say
from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.cycle_records import RecordCohortStarted
from cohortflow.activities.imports import ImportRecords
from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.logs import configure_logging
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore

SEED = 2023
SELECTED = 800
COLUMNS = ("participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role")
ENCODING = "gb18030"
MB = 1024 * 1024


@dataclass(frozen=True)
class ImportFile:
    rows: int
    digest: str
    bytes: int


@dataclass
class ImportFigures:
    rows: int
    file_bytes: int
    status: str
    applied: int
    seconds: float
    baseline_rss: int
    peak_rss: int
    hwm_growth: int | None
    """The kernel's peak RSS (VmHWM, reset just before the import) minus the baseline: a cross-check of the
    sampled peak that misses nothing between samples; None where the reset is not allowed."""
    events_stored: int
    traced_peak: int | None = None
    """With --tracemalloc: the peak of Python allocations during the import, above the baseline."""
    traced_top: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        return self.peak_rss - self.baseline_rss

    @property
    def rows_per_second(self) -> float:
        return self.applied / self.seconds if self.seconds else 0.0


def write_nominee_file(uploads: Path, rows: int) -> ImportFile:
    """A GB18030 nominee CSV of ``rows`` rows, saved in ``uploads`` under its SHA-256 digest."""
    uploads.mkdir(parents=True, exist_ok=True)
    staging = uploads / f"staging-{rows}.csv"
    with staging.open("w", encoding=ENCODING, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for n in nominees(sample_programme(rows, SELECTED), SEED):
            writer.writerow([getattr(n, c) for c in COLUMNS])
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    target = uploads / digest
    staging.replace(target)
    return ImportFile(rows, digest, target.stat().st_size)


def run_child(database_url: str, uploads: Path, file: ImportFile, *, trace: bool = False) -> ImportFigures:
    """Run the import of ``file`` in a fresh Python process and return what it measured."""
    cmd = [sys.executable, "-m", "bench.imports", "--database-url", database_url, "--uploads", str(uploads)]
    cmd += ["--digest", file.digest, "--rows", str(file.rows), "--bytes", str(file.bytes)]
    if trace:
        cmd.append("--tracemalloc")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"the import process failed ({out.returncode}):\n{out.stderr[-4000:]}")
    last = out.stdout.strip().splitlines()[-1]
    return ImportFigures(**json.loads(last))


def _reset_high_water_mark() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _high_water_mark() -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


class _TracePeak:
    """On a heartbeat, keep a snapshot if traced memory is a quarter above the last snapshot's.

    Snapshots are slow (every live allocation of the process), so not one per heartbeat; the one kept is
    within a quarter of the peak, enough to show what holds the memory.
    """

    def __init__(self) -> None:
        self.highest = 0
        self.snapshot: tracemalloc.Snapshot | None = None

    def __call__(self, *details: Any) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > 1.25 * self.highest:
            self.highest = current
            self.snapshot = tracemalloc.take_snapshot()


async def _import(database_url: str, uploads: Path, digest: str, rows: int, size: int, trace: bool) -> ImportFigures:
    store = await EventStore.connect(database_url)
    try:
        acts = Activities(store, uploads)
        env = ActivityEnvironment()
        programme = sample_programme(rows, SELECTED)
        cohort_id = f"import-{rows}"
        ref = CohortRef(cohort_id=cohort_id, workflow_id=f"cohort-{cohort_id}", actor="admin:bench")
        started = RecordCohortStarted(ref=ref, programme=programme, started_at=datetime.now(UTC), day_seconds=86400)
        await env.run(acts.record_cohort_started, started)
        request = ImportRecords(ref=ref, kind="nominees", digest=digest, filename=f"nominees-{rows}.csv")
        peak_tracker = _TracePeak()
        if trace:
            env.on_heartbeat = peak_tracker
        gc.collect()
        if trace:
            tracemalloc.start(12)
            before = tracemalloc.take_snapshot()
            base_traced, _ = tracemalloc.get_traced_memory()
        hwm_reset = _reset_high_water_mark()
        with PeakRss(interval=0.01) as rss:
            t = time.perf_counter()
            outcome = await env.run(acts.import_records, request)
            seconds = time.perf_counter() - t
        hwm = _high_water_mark() if hwm_reset else None
        traced_peak, top = None, []
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            traced_peak = peak - base_traced
            if peak_tracker.snapshot is not None:
                stats = peak_tracker.snapshot.compare_to(before, "lineno")
                top = [str(s) for s in stats[:12]]
            tracemalloc.stop()
        events = (await store.head()).position
        return ImportFigures(
            rows=rows,
            file_bytes=size,
            status=outcome.status,
            applied=outcome.applied,
            seconds=seconds,
            baseline_rss=rss.baseline,
            peak_rss=rss.peak,
            hwm_growth=None if hwm is None else hwm - rss.baseline,
            events_stored=events,
            traced_peak=traced_peak,
            traced_top=top,
        )
    finally:
        await store.close()


def measure(sizes: list[int]) -> None:
    """Each size imported in a fresh database and process, then again traced; the report's (g) table rows."""
    workdir = Path(tempfile.mkdtemp(prefix="cohortflow-import-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
    code = code_version()
    try:
        server = pg.url("postgres")
        uploads = workdir / "uploads"
        results: list[tuple[ImportFigures, ImportFigures]] = []
        for n in sizes:
            file = write_nominee_file(uploads, n)
            say(f"{n:,}-row nominee file: {file.bytes / MB:.1f} MB {ENCODING}")
            plain = run_child(create_database(server, f"bench_import_{n}"), uploads, file)
            traced = run_child(create_database(server, f"bench_import_{n}_traced"), uploads, file, trace=True)
            say(
                f"{n:,} rows {plain.status}: {plain.seconds:.2f} s, peak RSS +{plain.rss_growth / MB:.1f} MB,"
                f" traced peak +{(traced.traced_peak or 0) / MB:.1f} MB"
            )
            results.append((plain, traced))
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"code {code}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        "| rows | file | seconds | rows/s | RSS before | peak RSS growth (sampled) | VmHWM growth |"
        " Python allocations at peak (tracemalloc) | per row |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f, t in results:
        peak = t.traced_peak or 0
        hwm = "n/a" if f.hwm_growth is None else f"{f.hwm_growth / MB:.1f} MB"
        print(
            f"| {f.rows:,} | {f.file_bytes / MB:.1f} MB | {f.seconds:.2f} | {f.rows_per_second:,.0f} |"
            f" {f.baseline_rss / MB:.0f} MB | {f.rss_growth / MB:.1f} MB | {hwm} | {peak / MB:.1f} MB |"
            f" {peak / f.rows:,.0f} B |"
        )
    (small, small_t), (big, big_t) = min(results, key=lambda r: r[0].rows), max(results, key=lambda r: r[0].rows)
    per_row = ((big_t.traced_peak or 0) - (small_t.traced_peak or 0)) / max(1, big.rows - small.rows)
    print(
        f"peak RSS growth {small.rss_growth / MB:.1f} MB -> {big.rss_growth / MB:.1f} MB ="
        f" {big.rss_growth / max(1, small.rss_growth):.1f}x; traced peak {(small_t.traced_peak or 0) / MB:.1f} MB ->"
        f" {(big_t.traced_peak or 0) / MB:.1f} MB; {per_row:,.0f} B a row between them"
    )
    print(f"allocations alive near the traced peak of the {big.rows:,}-row import:")
    for line in big_t.traced_top[:8]:
        print(re.sub(r"^.*?/(cohortflow|site-packages|lib/python3\.\d+)/", r"\1/", line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=int, nargs="+", metavar="ROWS", help="run every size (the parent)")
    parser.add_argument("--database-url")
    parser.add_argument("--uploads", type=Path)
    parser.add_argument("--digest")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure)
        return 0
    if not (args.database_url and args.uploads and args.digest and args.rows):
        parser.error("a child import needs --database-url, --uploads, --digest and --rows (or use --measure)")
    configure_logging("console", "warning")  # logs to stderr: stdout carries the JSON answer
    figures = asyncio.run(
        _import(args.database_url, args.uploads, args.digest, args.rows, args.bytes, args.tracemalloc)
    )
    print(json.dumps(asdict(figures)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
