"""Benchmarks of the administrators' API; writes docs/benchmarks-admin.md and its summary in docs/benchmarks.md.

.venv/bin/python -m bench.admin_run [--quick] [--out docs/benchmarks-admin.md] [--summary docs/benchmarks.md]

(g) a nominee import of 5,000, 20,000 and 50,000 rows (GB18030 CSV) through the
real import activity, each size in a fresh process: wall time and peak memory
growth; (h) participant timeline and cohort funnel reads through the HTTP API
with 1,000,000 events in the store, under 100 concurrent clients of a load
generator running as a second process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.databases import create_database
from bench.imports import ImportFigures, run_child, write_nominee_file
from bench.machine import Machine, code_version, describe
from bench.progress import say
from bench.reads import LoadPlan, LoadRun, ReadFigures, StoreFigures, build_store, measure_reads
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.settings import Settings

MB = 1024 * 1024
IMPORT_SECONDS = 30.0
READ_P99_MS = 50.0
FLAT_RATIO = 2.0
"""Peak growth for the largest file at most this many times the smallest's counts as flat."""
SUMMARY_START = "<!-- admin-benchmarks:start -->"
SUMMARY_END = "<!-- admin-benchmarks:end -->"


@dataclass(frozen=True)
class Sizes:
    import_rows: tuple[int, ...]
    events: int
    clients: int
    seconds: float
    warmup: float
    single_seconds: float
    paced_rate: float
    tuned_pool: int


FULL = Sizes((5_000, 20_000, 50_000), 1_000_000, 100, 30.0, 5.0, 15.0, 100.0, 25)
QUICK = Sizes((1_000, 5_000), 100_000, 100, 10.0, 2.0, 5.0, 100.0, 25)


@dataclass(frozen=True)
class AdminReport:
    machine: Machine
    command: str
    started: datetime
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    quick: bool
    imports: list[ImportFigures]
    traced: list[ImportFigures]
    store: StoreFigures
    reads: ReadFigures
    default_pool: int
    server: tuple[str, str]
    """The event loop and HTTP parser the API ran with."""
    code: list[str]
    """The code measured, when the run started, when (h) started and when it ended (a shared working tree)."""

    @property
    def runs(self) -> list[LoadRun]:
        """The runs whose figures count (not the one slowed by the profiler)."""
        return [r for r in self.reads.runs if r.label != "profiled"]

    @property
    def headline(self) -> LoadRun:
        return next(r for r in self.runs if r.label == "closed")

    @property
    def largest(self) -> ImportFigures:
        return max(self.imports, key=lambda f: f.rows)

    @property
    def smallest(self) -> ImportFigures:
        return min(self.imports, key=lambda f: f.rows)

    @property
    def growth_ratio(self) -> float:
        return self.largest.rss_growth / max(1, self.smallest.rss_growth)


def run_imports(
    server_url: str, workdir: Path, rows: tuple[int, ...]
) -> tuple[list[ImportFigures], list[ImportFigures]]:
    uploads = workdir / "uploads"
    plain, traced = [], []
    for n in rows:
        file = write_nominee_file(uploads, n)
        say(f"(g) {n:,}-row nominee file: {file.bytes / MB:.1f} MB GB18030; importing in a fresh process")
        figures = run_child(create_database(server_url, f"bench_import_{n}"), uploads, file)
        say(
            f"(g) {n:,} rows {figures.status}: {figures.seconds:.1f} s ({figures.rows_per_second:,.0f} rows/s), "
            f"peak RSS +{figures.rss_growth / MB:.1f} MB over {figures.baseline_rss / MB:.0f} MB"
        )
        plain.append(figures)
        traced_figures = run_child(create_database(server_url, f"bench_import_{n}_traced"), uploads, file, trace=True)
        say(
            f"(g) {n:,} rows again with tracemalloc: Python allocations peak"
            f" +{(traced_figures.traced_peak or 0) / MB:.1f} MB"
        )
        traced.append(traced_figures)
    return plain, traced


def plans(sizes: Sizes, default_pool: int) -> list[LoadPlan]:
    """A single client (the service time), the headline closed loop, paced clients, the closed loop again (how
    much the figures move between identical runs on a shared machine), a larger pool, and a profile."""
    return [
        LoadPlan("single", 1, sizes.single_seconds, sizes.warmup, default_pool),
        LoadPlan("closed", sizes.clients, sizes.seconds, sizes.warmup, default_pool),
        LoadPlan("paced", sizes.clients, sizes.seconds, sizes.warmup, default_pool, sizes.paced_rate),
        LoadPlan("repeat", sizes.clients, sizes.seconds, sizes.warmup, default_pool),
        LoadPlan("pool", sizes.clients, sizes.seconds, sizes.warmup, sizes.tuned_pool),
        LoadPlan("profiled", sizes.clients, sizes.single_seconds, sizes.warmup, default_pool, profile=True),
    ]


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def cpu_per_request(run: LoadRun) -> tuple[float, float, float]:
    """CPU milliseconds per request of the API, the load generator and PostgreSQL (warm-up included)."""
    total = run.route("all")["count"] * run.result["wall_seconds"] / run.result["seconds"]
    total = max(total, 1.0)
    return (
        run.api_cpu_seconds * 1000 / total,
        run.result["cpu_seconds"] * 1000 / total,
        run.postgres_cpu_seconds * 1000 / total,
    )


def ours(run: LoadRun, cpus: int) -> float:
    """The share of the machine's CPU the API, the load generator and PostgreSQL used during the run."""
    used = run.api_cpu_seconds + float(run.result["cpu_seconds"]) + run.postgres_cpu_seconds
    return used / (run.wall_seconds * cpus)


def machine_busy(run: LoadRun, cpus: int) -> float:
    return run.machine_busy_seconds / (run.wall_seconds * cpus)


def describe_run(run: LoadRun) -> str:
    rate = run.result.get("target_rate") or 0
    if run.label == "single":
        return "1 client, closed loop"
    if rate:
        return f"{run.clients} clients offering {rate:,.0f} req/s together (Poisson starts)"
    again = " — the same again" if run.label == "repeat" else ""
    return f"{run.clients} clients, closed loop (no pause between requests){again}"


def render(r: AdminReport) -> str:
    big, small = r.largest, r.smallest
    head = r.headline
    tl, fn = head.route("timeline"), head.route("funnel")
    errors = sum(run.route("all")["errors"] for run in r.runs)
    ratio = r.growth_ratio
    rows_ratio = big.rows / small.rows
    single = next(run for run in r.runs if run.label == "single")
    api_ms, gen_ms, pg_ms = cpu_per_request(head)
    # The cheapest closed-loop run's CPU per request: what the cores could serve at best, load generator included.
    cheapest = min(sum(cpu_per_request(run)) for run in r.runs if run.clients > 1 and not run.result.get("target_rate"))
    capacity = r.machine.cpus * 1000 / cheapest
    lines = [
        "# Administrators' API benchmarks",
        "",
        "Generated by `bench/admin_run.py` (`make bench` runs it after `bench/run.py` and `bench/audit_run.py`);",
        "it also writes the summary of this page into `docs/benchmarks.md`. One embedded PostgreSQL serves every",
        "part, each part in its own database.",
        "",
        f"- command: `{r.command}`"
        + (" (**quick smoke run: small sizes, not the targets' sizes**)" if r.quick else ""),
        f"- date: {r.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC (whole run {r.seconds / 60:.1f} min)",
        f"- machine: {r.machine.cpus} CPUs ({r.machine.cpu_model}), {r.machine.memory_bytes / 2**30:.1f} GiB,"
        f" Python {r.machine.python}, PostgreSQL {r.machine.postgres}, kernel {r.machine.kernel},"
        f" code {' then '.join(r.code)}"
        + (
            " (the shared working tree changed during the run: the parts ran the code of their time)"
            if len(r.code) > 1
            else ""
        ),
        f"- software: {', '.join(f'{name} {version(name)}' for name in ('fastapi', 'uvicorn', 'httpx', 'psycopg'))}",
        f"- load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in r.load_before)};"
        f" after: {'/'.join(f'{x:.2f}' for x in r.load_after)}. The machine is shared with other engineers' test",
        "  runs, and in (h) the API process, the load generator process and PostgreSQL all share its",
        f"  {r.machine.cpus} cores, so the load generator's own CPU is taken from the API it measures.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        f"| (g) {big.rows:,}-row nominee import validated and applied ≤ {IMPORT_SECONDS:.0f} s |"
        f" {big.seconds:.1f} s end to end ({big.rows_per_second:,.0f} rows/s), {big.applied:,} nominations applied"
        f" | {verdict(big.status == 'applied' and big.applied == big.rows and big.seconds <= IMPORT_SECONDS)} |",
        f"| (g) memory flat in file size (growth for {big.rows:,} rows not ~{rows_ratio:.0f}× that"
        f" for {small.rows:,}) |"
        f" peak RSS growth {small.rss_growth / MB:.1f} MB → {big.rss_growth / MB:.1f} MB = {ratio:.1f}× for"
        f" {rows_ratio:.0f}× the rows; Python allocations at their peak {traced_ratio_text(r)}"
        f" | {verdict(ratio <= FLAT_RATIO)} |",
        f"| (h) participant timeline p99 ≤ {READ_P99_MS:.0f} ms at {head.clients} concurrent clients,"
        f" {r.store.events:,} events stored | p99 {ms(tl['p99_ms'])} (p50 {ms(tl['p50_ms'])});"
        f" {tl['per_second']:,.0f} timelines/s | {verdict(tl['p99_ms'] <= READ_P99_MS)} |",
        f"| (h) cohort funnel p99 ≤ {READ_P99_MS:.0f} ms at {head.clients} concurrent clients |"
        f" p99 {ms(fn['p99_ms'])} (p50 {ms(fn['p50_ms'])}); {fn['per_second']:,.0f} funnels/s"
        f" | {verdict(fn['p99_ms'] <= READ_P99_MS)} |",
        f"| (h) no errors | {errors} errors in {sum(run.route('all')['count'] for run in r.runs):,} measured requests"
        f" over {len(r.runs)} runs | {verdict(errors == 0)} |",
        f"| (for reference) projecting the read models from {r.store.events:,} events |"
        f" {r.store.projection_seconds:.1f} s = {r.store.projection_rate:,.0f} events/s | — |",
        "",
        "## (g) Nominee import",
        "",
        "A nominee CSV (columns participant_id, name, national_id, gender, prefecture_code, school, role) of",
        "`sample.nominees(sample_programme(rows, 800), 2023)`, encoded in GB18030 so that the encoding has to be",
        "detected (UTF-8 is tried over the file first), saved in an uploads directory under its SHA-256. For",
        "each size a fresh database and a fresh Python process (`python -m bench.imports`): it records the",
        "cohort's start through the `record_cohort_started` activity, collects garbage, takes its RSS as the",
        "baseline, and runs `import_records` in Temporal's `ActivityEnvironment`: encoding detection, the",
        "checking pass, and the second pass streamed through one `COPY` with hashing. RSS is sampled every",
        "10 ms in a thread; VmHWM is the kernel's own peak, reset just before the import. A second process per",
        "size repeats the import with `tracemalloc` on (slower; its time is not reported) to measure Python",
        "allocations alive at their peak.",
        "",
        "| rows | file | seconds | rows/s | RSS before | peak RSS growth (sampled) | VmHWM growth |"
        " Python allocations at peak (tracemalloc) | per row |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    traced = {t.rows: t for t in r.traced}
    for f in r.imports:
        t = traced.get(f.rows)
        peak = t.traced_peak if t is not None and t.traced_peak is not None else None
        hwm = "n/a" if f.hwm_growth is None else f"{f.hwm_growth / MB:.1f} MB"
        lines.append(
            f"| {f.rows:,} | {f.file_bytes / MB:.1f} MB | {f.seconds:.2f} | {f.rows_per_second:,.0f} |"
            f" {f.baseline_rss / MB:.0f} MB | {f.rss_growth / MB:.1f} MB | {hwm} |"
            f" {'n/a' if peak is None else f'{peak / MB:.1f} MB'} |"
            f" {'n/a' if peak is None else f'{peak / f.rows:,.0f} B'} |"
        )
    lines += ["", *import_findings(r), "", *reads_section(r, single, api_ms, gen_ms, pg_ms, capacity)]
    return "\n".join(lines) + "\n"


def traced_ratio_text(r: AdminReport) -> str:
    peaks = {t.rows: t.traced_peak for t in r.traced if t.traced_peak is not None}
    small, big = peaks.get(r.smallest.rows), peaks.get(r.largest.rows)
    if not small or not big:
        return "not traced"
    return f"{small / MB:.1f} MB → {big / MB:.1f} MB = {big / small:.1f}×"


def import_findings(r: AdminReport) -> list[str]:
    big = max(r.traced, key=lambda f: f.rows)
    small = min(r.traced, key=lambda f: f.rows)
    rows = max(1, big.rows - small.rows)
    per_row = ((big.traced_peak or 0) - (small.traced_peak or 0)) / rows
    lines = [
        f"Allocations alive near the traced peak of the {big.rows:,}-row import (the last snapshot, taken at a"
        " heartbeat within a quarter of the peak), by source line, compared with just before the import:",
        "",
        "```",
        *(re.sub(r"^.*?/(cohortflow|site-packages|lib/python3\.\d+)/", r"\1/", s) for s in big.traced_top[:8]),
        "```",
        "",
        "What grows with the file is the duplicate check of `NominationCheck` (`cohortflow/domain/nomination.py`):",
        "it keeps every participant id seen (`_ids`, the strings made by `imports/reading.py`) and every person",
        "key (`_people`, 24-character SHA-256 prefixes made by `domain/national_id.py:person_key`) for the",
        "whole file, so that a second row for the same person or id is refused; the sets' hash tables grow with",
        "them. Everything else (reading, decoding, the COPY) stays flat. The sets are rebuilt in the second pass",
        "after the first pass's are freed, so the peak is one pass's worth. Between the smallest and the"
        f" largest file the traced peak grows by {per_row:,.0f} B a row: about {per_row * 1_000_000 / MB:,.0f} MB"
        " for a million-row file. Storing the keys"
        " more compactly (ids as integers, person keys as 12-byte digests) would only trim that constant; making",
        "the import flat would take the duplicate check out of Python's memory, for instance into a temporary",
        "table with unique indexes inside the import's transaction.",
    ]
    return lines


def server_flavour() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn's "auto" settings pick in this environment."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, parser


def reads_section(r: AdminReport, single: LoadRun, api_ms: float, gen_ms: float, pg_ms: float, cap: float) -> list[str]:
    s = r.store
    head = r.headline
    loop, parser = r.server
    lines = [
        "## (h) Timeline and funnel reads under load",
        "",
        f"The store holds {s.events:,} events: {len(s.cohorts)} cohorts of {s.cohorts[0][1]:,} candidates, each a"
        " start, a nomination and an online study record per candidate, appended through `EventStore.append` as"
        f" in the audit benchmark ({s.load_seconds:.0f} s). `Projector.catch_up(wait=True)` then projected the"
        f" read models from position 0: {s.projected:,} events in {s.projection_seconds:.1f} s,"
        f" **{s.projection_rate:,.0f} events/s**, {s.participants:,} participants. Then `VACUUM (ANALYZE)`, as"
        " autovacuum would leave a settled store, and an auditor token.",
        "",
        "The API runs as its own process (`python -m bench.reads serve`): uvicorn serving `create_app`, **one"
        f" worker process**, log level warning as `cohortflow up` runs it, event loop {loop} and HTTP parser"
        f" {parser} (uvicorn's automatic choice with what is installed), its projector polling in the background,"
        " and a headless Temporal dev server that reads never use. The load generator (`python -m bench.loadgen`)"
        " is a second process: each client is an asyncio task with its own `httpx.AsyncClient` (one keep-alive"
        " connection each, so the connections available equal the clients). One shared client with a"
        " 100-connection pool (`--shared-client`) spent its CPU in httpcore's pool instead: in a trial on a"
        " 100,000-event store it served 63–99 req/s at 7–13 ms of its own CPU per request, against 218–255 req/s"
        " at about 2 ms with a client per task. (The generator also stops httpcore from trying `import sniffio`,"
        " which is not installed, on every request: each failed import searched `sys.path` again and took about"
        " a fifth of the generator's CPU.) The clients send GETs of a random participant's timeline"
        " (`/api/v1/cohorts/{id}/participants/{pid}/timeline`) or a random cohort's funnel"
        " (`/api/v1/cohorts/{id}/funnel`), half and half, with the auditor's bearer token. Latency is measured"
        " in the load generator from sending to the last byte received, so it includes waiting in the"
        f" generator's own event loop. Each run has a {head.result['warmup']:.0f} s warm-up that is not counted."
        " Errors are answers other than 200 and transport failures.",
        "",
        "| run | API pool | route | requests | req/s | p50 | p95 | p99 | max | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in r.runs:
        for name in ("timeline", "funnel", "all"):
            q = run.route(name)
            label = describe_run(run) if name == "timeline" else ""
            pool_cell = str(run.pool_size) if name == "timeline" else ""
            lines.append(
                f"| {label} | {pool_cell} | {name} | {q['count']:,} | {q['per_second']:,.0f} | {ms(q['p50_ms'])} |"
                f" {ms(q['p95_ms'])} | {ms(q['p99_ms'])} | {ms(q['max_ms'])} | {q['errors']} |"
            )
    lines += [
        "",
        "What one request of each route does in PostgreSQL, recorded from the real app (served in the benchmark"
        " process through `httpx.ASGITransport`, each route asked once before, as a running API would have"
        " been; psycopg's cursor `execute`, connection `commit` and the pool's `getconn` counted), with each"
        f" statement run again under `EXPLAIN ANALYZE` (cohort {s.cohorts[len(s.cohorts) // 2][0]}, one"
        " participant):",
        "",
        "| route | pool checkouts | transactions | statements | round trips (BEGIN and COMMIT included) |"
        " statement: tables read → plan (execution) |",
        "|---|---|---|---|---|---|",
    ]
    for t in s.traces:
        plans = "<br>".join(f"{p.tables} → {p.nodes} ({p.execution_ms:.2f} ms)" for p in t.plans)
        lines.append(f"| {t.route} | {t.checkouts} | {t.transactions} | {t.statements} | {t.round_trips} | {plans} |")
    lines += [
        "",
        "CPU time of each process during each run (warm-up included), per request served, and how busy the"
        " API process (one thread of Python), our three processes together and the whole machine (everything"
        " running on it, other engineers' work included) were:",
        "",
        "| run | API | load generator | PostgreSQL | total | API, of one core | ours, of the machine |"
        " whole machine busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in r.runs:
        a, g, p = cpu_per_request(run)
        lines.append(
            f"| {describe_run(run)}, pool {run.pool_size} | {a:.2f} ms | {g:.2f} ms | {p:.2f} ms |"
            f" {a + g + p:.2f} ms | {run.api_cpu_seconds / run.wall_seconds:.0%} | {ours(run, r.machine.cpus):.0%} |"
            f" {machine_busy(run, r.machine.cpus):.0%} |"
        )
    lines += ["", *time_goes(r, single, api_ms, gen_ms, pg_ms, cap)]
    return lines


def time_goes(r: AdminReport, single: LoadRun, api_ms: float, gen_ms: float, pg_ms: float, cap: float) -> list[str]:
    head = r.headline
    head_all = head.route("all")
    paced = next((run for run in r.runs if run.label == "paced"), None)
    pool = next((run for run in r.runs if run.label == "pool"), None)
    needed = head.clients / (READ_P99_MS / 1000)
    slowest = max((p.execution_ms for t in r.store.traces for p in t.plans), default=0.0)
    busy = machine_busy(head, r.machine.cpus)
    lines = [
        "### Where the time goes",
        "",
        f"With one client a read takes p50 {ms(single.route('all')['p50_ms'])} (timeline"
        f" {ms(single.route('timeline')['p50_ms'])}, funnel {ms(single.route('funnel')['p50_ms'])}), and"
        f" PostgreSQL spends about {pg_ms:.2f} ms of CPU on a request under load: every statement executes in"
        f" {slowest:.2f} ms or less (the plans above; sequential scans only on small tables)."
        f" The {head.clients} closed-loop clients keep {head.clients} requests in flight all the time, so by"
        f" Little's law the mean latency is {head.clients} ÷ throughput: {head_all['per_second']:,.0f} req/s"
        f" gives {head.clients / max(head_all['per_second'], 1) * 1000:,.0f} ms (measured mean"
        f" {ms(head_all['mean_ms'])}). A p99 of {READ_P99_MS:.0f} ms for {head.clients} clients that never pause"
        f" needs a mean well under {READ_P99_MS:.0f} ms, that is well over {needed:,.0f} requests/s. Each request"
        f" costs {api_ms:.2f} ms of CPU in the API, {gen_ms:.2f} ms in the load generator (httpx) and"
        f" {pg_ms:.2f} ms in PostgreSQL, so the {r.machine.cpus} cores could serve at most about {cap:,.0f} req/s"
        " with nothing else running (at the lowest CPU per request of the closed-loop runs)"
        + (
            f" — {needed / cap:.1f}× short of what the target needs: no setting of the benchmark closes that gap."
            if cap < needed
            else "."
        )
        + f" During the run the whole machine was {busy:.0%} busy (our three processes"
        f" {ours(head, r.machine.cpus):.0%}, the rest other work) and the API process used"
        f" {head.api_cpu_seconds / head.wall_seconds:.0%} of one core"
        + (
            ": the CPU is the queue, and whatever other work the machine runs is taken from the API's share."
            if busy >= 0.9
            else (
                ". The rest of the time the processes wait on each other: each database round trip (table above)"
                " needs the API and a PostgreSQL backend scheduled in turn on the two cores, which the load"
                " generator also needs."
            )
        ),
        "",
    ]
    repeat = next((run for run in r.runs if run.label == "repeat"), None)
    if repeat is not None:
        ra = repeat.route("all")
        lines.append(
            f"- Run to run: the closed loop repeated with the same settings gave p99 {ms(ra['p99_ms'])} and"
            f" {ra['per_second']:,.0f} req/s, against {ms(head_all['p99_ms'])} and {head_all['per_second']:,.0f}"
            " req/s the first time: the spread that other work on this shared machine puts into every figure."
        )
    if pool is not None:
        pa = pool.route("all")
        same = [run.route("all") for run in r.runs if run.label in ("closed", "repeat")]
        rates = [q["per_second"] for q in same]
        spread = max(rates) / max(min(rates), 1) - 1
        gain = pa["per_second"] / max(max(rates), 1) - 1
        defaults = " and ".join(f"{ms(q['p99_ms'])} at {q['per_second']:,.0f} req/s" for q in same)
        lines.append(
            f"- Pool size: with {pool.pool_size} connections instead of the default {r.default_pool}"
            f" (`COHORTFLOW_API_POOL_SIZE`): p99 {ms(pa['p99_ms'])} at {pa['per_second']:,.0f} req/s, against"
            f" {defaults} in the two runs with the default."
            + (
                f" {gain:.0%} more throughput than the better of them, more than the {spread:.0%} between the two:"
                " a larger pool helps here."
                if gain > max(spread, 0.1)
                else f" {gain:+.0%} throughput against the better of them, beside {spread:.0%} between the two"
                " themselves: no gain. With more connections the requests queue in PostgreSQL and for the CPU"
                " instead of in the pool."
            )
        )
    if paced is not None:
        qa = paced.route("all")
        lines.append(
            f"- The same {paced.clients} clients pausing between requests, as people at their desks do, offering"
            f" {paced.result['target_rate']:,.0f} req/s together: p99 {ms(qa['p99_ms'])} (timeline"
            f" {ms(paced.route('timeline')['p99_ms'])}, funnel {ms(paced.route('funnel')['p99_ms'])}) at"
            f" {qa['per_second']:,.0f} req/s served."
        )
    if r.reads.profile:
        json_share = sum(share for name, share in r.reads.profile if name in ("pydantic-core", "stdlib json"))
        top = ", ".join(f"{name} {share:.0%}" for name, share in r.reads.profile[:10])
        lines.append(
            "- The API process under cProfile (`python -m bench.reads serve --profile FILE`, a separate"
            f" {head.clients}-client run whose figures are not reported), own CPU time by package, idle waiting"
            f" left out: {top}. Validating and encoding the answers (pydantic-core, stdlib json) takes"
            f" {json_share:.0%}."
        )
    lines += fixes(r)
    return lines


def fixes(r: AdminReport) -> list[str]:
    """What would bring the closed-loop p99 down, from what this run found."""
    head = r.headline
    loop, parser = r.server
    traced = {t.route: t for t in r.store.traces}
    items = [
        "more cores, with one uvicorn worker per core (and the load generator on another machine): the API is"
        " one Python process, so it can never use more than one core"
    ]
    if (loop, parser) != ("uvloop", "httptools"):
        items.append("`uvicorn[standard]` (uvloop and httptools instead of asyncio's loop and h11)")
    timeline = traced.get("timeline")
    if timeline is not None and timeline.transactions:
        items.append(
            f"in the application, autocommit connections for reads (a timeline from {timeline.round_trips} round"
            f" trips to {timeline.statements}, and less psycopg work per request) and one pool checkout per request"
            f" shared by the token check and the reads (a timeline takes {timeline.checkouts} in turn)"
        )
    lines = [
        f"- What would bring p99 under {READ_P99_MS:.0f} ms at {head.clients} clients that never pause is several"
        " times the throughput: " + "; ".join(items) + ".",
    ]
    funnel = traced.get("funnel")
    if funnel is not None and funnel.statements <= 1:
        lines.append(
            "- A funnel request costs little in the database: the route answers from the funnel it keeps for the"
            " projected position, so only the token lookup (no cache, by design, so that a revocation counts on"
            f" the very next request) goes to PostgreSQL, {funnel.round_trips} round trips."
        )
    return lines


def summary(r: AdminReport) -> str:
    big, head = r.largest, r.headline
    tl, fn = head.route("timeline"), head.route("funnel")
    paced = next((run for run in r.runs if run.label == "paced"), None)
    paced_text = ""
    if paced is not None:
        paced_text = (
            f"; with the same clients pausing to offer {paced.result['target_rate']:,.0f} req/s together,"
            f" p99 {ms(paced.route('all')['p99_ms'])}"
        )
    return "\n".join(
        [
            SUMMARY_START,
            "## Administrators' API",
            "",
            f"From `bench/admin_run.py` ({r.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, code {' then '.join(r.code)});"
            " the full report, machine and method are in [benchmarks-admin.md](benchmarks-admin.md).",
            "",
            "| target | measured | result |",
            "|---|---|---|",
            f"| {big.rows:,}-row nominee import validated and applied ≤ {IMPORT_SECONDS:.0f} s | {big.seconds:.1f} s"
            f" ({big.rows_per_second:,.0f} rows/s)"
            f" | {verdict(big.seconds <= IMPORT_SECONDS and big.status == 'applied')} |",
            f"| import memory flat in file size | peak RSS growth {r.smallest.rss_growth / MB:.1f} MB for"
            f" {r.smallest.rows:,} rows, {big.rss_growth / MB:.1f} MB for {big.rows:,} ({r.growth_ratio:.1f}×):"
            f" the duplicate check's sets | {verdict(r.growth_ratio <= FLAT_RATIO)} |",
            f"| timeline and funnel p99 ≤ {READ_P99_MS:.0f} ms at {head.clients} clients, {r.store.events:,} events |"
            f" closed loop: timeline p99 {ms(tl['p99_ms'])}, funnel p99 {ms(fn['p99_ms'])},"
            f" {head.route('all')['per_second']:,.0f} req/s, {head.route('all')['errors']} errors (one API process;"
            f" the 2 cores shared with the load generator){paced_text}"
            f" | {verdict(max(tl['p99_ms'], fn['p99_ms']) <= READ_P99_MS)} |",
            f"| (reference) read-model projection | {r.store.projection_rate:,.0f} events/s | — |",
            SUMMARY_END,
            "",
        ]
    )


def write_summary(path: Path, text: str) -> None:
    """Replace the section between the markers in ``path``, or append it."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = current.find(SUMMARY_START), current.find(SUMMARY_END)
    if start >= 0 and end > start:
        updated = current[:start] + text.rstrip("\n") + current[end + len(SUMMARY_END) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated, encoding="utf-8")


def command_line(argv: list[str] | None) -> str:
    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = sys.executable
    return shlex.join([python, "-m", "bench.admin_run", *(sys.argv[1:] if argv is None else argv)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (100k events, 10 s loads)")
    parser.add_argument("--out", type=Path, help="the report (default docs/benchmarks-admin.md; quick: bench/results/)")
    parser.add_argument("--summary", type=Path, help="where to put the summary section (default docs/benchmarks.md)")
    parser.add_argument("--events", type=int, help="events in the store for (h)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.events:
        sizes = Sizes(**{**sizes.__dict__, "events": args.events})
    out = args.out or (
        Path("bench/results/benchmarks-admin-quick.md") if args.quick else Path("docs/benchmarks-admin.md")
    )
    summary_path = args.summary or (None if args.quick else Path("docs/benchmarks.md"))
    default_pool = Settings().api_pool_size
    started_at, started, load_before = datetime.now().astimezone(), time.perf_counter(), os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="cohortflow-admin-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
    try:
        server = pg.url("postgres")
        machine = describe(server)
        say(f"machine: {machine.cpus} CPUs, {machine.cpu_model}; PostgreSQL {machine.postgres}")
        imports, traced = run_imports(server, workdir, sizes.import_rows)
        url = create_database(server, "bench_reads")
        code_at_reads = code_version()
        say(f"(h) filling the store with {sizes.events:,} events")
        store, token = asyncio.run(build_store(url, sizes.events))
        reads = measure_reads(url, store, token, plans(sizes, default_pool), workdir)
        report = AdminReport(
            machine=machine,
            command=command_line(argv),
            started=started_at,
            seconds=time.perf_counter() - started,
            load_before=load_before,
            load_after=os.getloadavg(),
            quick=args.quick,
            imports=imports,
            traced=traced,
            store=store,
            reads=reads,
            default_pool=default_pool,
            server=server_flavour(),
            code=list(dict.fromkeys([machine.code, code_at_reads, code_version()])),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(report), encoding="utf-8")
        say(f"wrote {out}")
        if summary_path is not None:
            write_summary(summary_path, summary(report))
            say(f"updated the summary in {summary_path}")
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
