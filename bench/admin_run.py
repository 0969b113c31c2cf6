"""Benchmarks of the administrators' API; writes docs/benchmarks-admin.md and its summary in docs/benchmarks.md.

.venv/bin/python -m bench.admin_run [--quick] [--reads-only] [--out docs/benchmarks-admin.md] \
    [--summary docs/benchmarks.md]

(g) a nominee import of 5,000, 20,000 and 50,000 rows (GB18030 CSV) through the
real import activity, each size in a fresh process: wall time and peak memory
growth; (h) participant timeline and cohort funnel reads through the HTTP API
with 1,000,000 events in the store, under 100 concurrent clients of a load
generator running as a second process: a closed loop, clients thinking between
requests, and a sweep of the rate they offer.

``--reads-only`` runs (h) alone and replaces only its parts of the two documents
(its rows of the targets tables and its section), leaving (g)'s as they are. Every
run keeps (h)'s figures in ``bench/results/reads-last.pickle``; ``--render-reads
FILE`` puts those into the documents again without measuring (after a change to
how they are written).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import pickle
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
KEPT = Path("bench/results/reads-last.pickle")
"""Where every run keeps (h)'s figures, for ``--render-reads``."""
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
    think_rate: float
    """The rate the thinking clients of (b) offer together: each thinks clients / think_rate seconds on average."""
    sweep: tuple[float, ...]
    """Offered rates of (c), from the same clients thinking less."""


FULL = Sizes((5_000, 20_000, 50_000), 1_000_000, 100, 30.0, 5.0, 15.0, 100.0, (100.0, 200.0, 400.0, 600.0, 800.0))
QUICK = Sizes((1_000, 5_000), 100_000, 100, 10.0, 2.0, 5.0, 100.0, (100.0, 400.0))

PREVIOUS = (
    "the report of 2026-11-22 10:04 UTC (code ccf4ed1 then 69aff2f: three pool checkouts and nine round trips"
    " for a timeline, answers validated again by FastAPI, load generator on httpx) measured, for the closed loop"
    " of 100 clients, 1.26 ms of CPU per request in the API, 1.02 ms in the load generator and 0.42 ms in"
    " PostgreSQL (2.70 ms in all), 666 req/s, timeline p99 338 ms and funnel p99 202 ms"
)
"""The figures before the read path and the load generator were made cheaper, for comparison."""


@dataclass(frozen=True)
class ReadsReport:
    """What (h) measured and on what: rendered into (h)'s own parts of the two documents."""

    machine: Machine
    command: str
    started: datetime
    seconds: float
    """How long (h) took, filling the store included."""
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    quick: bool
    store: StoreFigures
    reads: ReadFigures
    default_pool: int
    server: tuple[str, str]
    """The event loop and HTTP parser the API ran with."""
    code: list[str]
    """The code measured when (h) started and when it ended (a shared working tree)."""

    @property
    def runs(self) -> list[LoadRun]:
        """The runs whose figures count (not the one slowed by the profiler)."""
        return [r for r in self.reads.runs if r.label != "profiled"]

    @property
    def headline(self) -> LoadRun:
        return next(r for r in self.runs if r.label == "closed")

    @property
    def single(self) -> LoadRun:
        return next(r for r in self.runs if r.label == "single")

    @property
    def sweep(self) -> list[LoadRun]:
        """The runs of thinking clients, by the rate offered."""
        return sorted((r for r in self.runs if offered(r)), key=offered)

    @property
    def thinking(self) -> LoadRun | None:
        """(b): the sweep's run at the base rate."""
        return next((r for r in self.sweep if offered(r) == self.think_rate), None)

    @property
    def think_rate(self) -> float:
        return min((offered(r) for r in self.sweep), default=0.0)

    @property
    def ceiling(self) -> LoadRun | None:
        """The highest offered rate up to which every rate of the sweep kept both p99 within the target."""
        passed = None
        for run in self.sweep:
            if not kept(run):
                break
            passed = run
        return passed

    @property
    def kept_later(self) -> list[LoadRun]:
        """Higher rates that kept within the target after a lower one had not (figures that move run to run)."""
        failed = next((i for i, run in enumerate(self.sweep) if not kept(run)), len(self.sweep))
        return [run for run in self.sweep[failed:] if kept(run)]


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
    h: ReadsReport
    code: list[str]
    """The code measured, when the run started, when (h) started and when it ended (a shared working tree)."""

    @property
    def largest(self) -> ImportFigures:
        return max(self.imports, key=lambda f: f.rows)

    @property
    def smallest(self) -> ImportFigures:
        return min(self.imports, key=lambda f: f.rows)

    @property
    def growth_ratio(self) -> float:
        return self.largest.rss_growth / max(1, self.smallest.rss_growth)


def offered(run: LoadRun) -> float:
    return float(run.result.get("target_rate") or 0.0)


def kept(run: LoadRun) -> bool:
    """Both routes' p99 within the target, and no errors."""
    return worst_p99(run) <= READ_P99_MS and run.route("all")["errors"] == 0


def worst_p99(run: LoadRun) -> float:
    return float(max(run.route("timeline")["p99_ms"], run.route("funnel")["p99_ms"]))


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
    """A single client (the service time); (a) the closed loop; (b) and (c) clients thinking between requests,
    offering more and more; the closed loop again (how much figures move between identical runs on a shared
    machine); the closed loop with the httpx load generator (what the generator's own CPU used to take from
    the API); and a profile of the API."""
    return [
        LoadPlan("single", 1, sizes.single_seconds, sizes.warmup, default_pool),
        LoadPlan("closed", sizes.clients, sizes.seconds, sizes.warmup, default_pool),
        *(
            LoadPlan(f"think-{rate:.0f}", sizes.clients, sizes.seconds, sizes.warmup, default_pool, rate)
            for rate in sorted({sizes.think_rate, *sizes.sweep})
        ),
        LoadPlan("repeat", sizes.clients, sizes.seconds, sizes.warmup, default_pool),
        LoadPlan("httpx", sizes.clients, sizes.seconds, sizes.warmup, default_pool, client="httpx"),
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
    rate = offered(run)
    if run.label == "single":
        return "1 client, closed loop"
    if rate:
        think = run.result.get("mean_think_seconds") or run.clients / rate
        return f"{run.clients} clients thinking {think:.2g} s on average (≈{rate:,.0f} req/s offered)"
    again = {"repeat": " — the same again", "httpx": " — load generator on httpx"}.get(run.label, "")
    return f"{run.clients} clients, closed loop (no think time){again}"


def render(r: AdminReport) -> str:
    big, small = r.largest, r.smallest
    ratio = r.growth_ratio
    rows_ratio = big.rows / small.rows
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
        *reads_target_rows(r.h),
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
    lines += ["", *import_findings(r), "", *reads_section(r.h)]
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
        "The within-file duplicate check (same participant id, same person, same record twice) keeps its keys in",
        "temporary tables on the import's own connection (`cohortflow/activities/repeats.py`), checked a chunk of",
        "500 rows at a time, so what is alive near the peak is one chunk's rows and keys whatever the file's size."
        f" Between the smallest and the largest file the traced peak grows by {per_row:,.0f} B a row.",
    ]
    return lines


def server_flavour() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn's "auto" settings pick in this environment."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, parser


READ_TARGET_PREFIXES = ("| (h) ", "| (for reference) projecting the read models")
"""How (h)'s rows of the targets table begin (``--reads-only`` replaces them)."""
READ_SUMMARY_PREFIXES = ("| timeline and funnel p99", "| (reference) read-model projection")
"""How (h)'s rows of the summary in docs/benchmarks.md begin."""
READ_SECTION = "## (h) "
SOFTWARE = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "psycopg", "httpx")


def p99s(run: LoadRun) -> str:
    tl, fn = run.route("timeline"), run.route("funnel")
    timeline = f"timeline p99 {ms(tl['p99_ms'])} (p50 {ms(tl['p50_ms'])})"
    return f"{timeline}, funnel p99 {ms(fn['p99_ms'])} (p50 {ms(fn['p50_ms'])})"


def within(run: LoadRun) -> str:
    """Where the run's worse route stands against the target: figures, not a verdict."""
    worst = worst_p99(run)
    side = "within" if worst <= READ_P99_MS else "above"
    return f"worse route's p99 {ms(worst)}: {side} {READ_P99_MS:.0f} ms"


def reads_target_rows(h: ReadsReport) -> list[str]:
    """(h)'s rows of the targets table: the figures for each reading of the target, without a verdict."""
    head, thinking, ceiling = h.headline, h.thinking, h.ceiling
    errors = sum(run.route("all")["errors"] for run in h.runs)
    target = f"p99 ≤ {READ_P99_MS:.0f} ms at {head.clients} concurrent clients, {h.store.events:,} events stored"
    rows = [
        f"| (h) timeline and funnel {target}: (a) clients that never pause (closed loop) | {p99s(head)};"
        f" {head.route('all')['per_second']:,.0f} req/s | {within(head)} |",
    ]
    if thinking is not None:
        rows.append(
            f"| (h) the same: (b) clients thinking {thinking.clients / offered(thinking):.2g} s on average between"
            f" requests (≈{offered(thinking):,.0f} req/s offered) | {p99s(thinking)};"
            f" {thinking.route('all')['per_second']:,.0f} req/s served | {within(thinking)} |"
        )
    if h.sweep:
        rates = ", ".join(f"{offered(run):,.0f}" for run in h.sweep)
        best = (
            f"{offered(ceiling):,.0f} req/s offered ({ceiling.route('all')['per_second']:,.0f} served): {p99s(ceiling)}"
            if ceiling is not None
            else f"none of them (the lowest, {offered(h.sweep[0]):,.0f} req/s, gave {p99s(h.sweep[0])})"
        )
        rows.append(
            f"| (h) the same: (c) the highest offered rate of {rates} req/s up to which both p99 stay"
            f" ≤ {READ_P99_MS:.0f} ms | {best}{later_text(h)} | — |"
        )
    rows += [
        f"| (h) no errors | {errors} errors in {sum(run.route('all')['count'] for run in h.runs):,} measured requests"
        f" over {len(h.runs)} runs | — |",
        f"| (for reference) projecting the read models from {h.store.events:,} events |"
        f" {h.store.projection_seconds:.1f} s = {h.store.projection_rate:,.0f} events/s | — |",
    ]
    return rows


def route_rows(run: LoadRun, label: str) -> list[str]:
    lines = []
    for name in ("timeline", "funnel", "all"):
        q = run.route(name)
        first = name == "timeline"
        lines.append(
            f"| {label if first else ''} | {name} | {q['count']:,} | {q['per_second']:,.0f} | {ms(q['mean_ms'])} |"
            f" {ms(q['p50_ms'])} | {ms(q['p95_ms'])} | {ms(q['p99_ms'])} | {ms(q['max_ms'])} | {q['errors']} |"
        )
    return lines


ROUTE_TABLE = [
    "| run | route | requests | req/s | mean | p50 | p95 | p99 | max | errors |",
    "|---|---|---|---|---|---|---|---|---|---|",
]


def capacity(h: ReadsReport) -> tuple[float, float]:
    """The lowest CPU per request of the closed-loop runs on the raw generator, and the req/s the cores could
    serve at that cost with nothing else running."""
    closed = [run for run in h.runs if run.clients > 1 and not offered(run) and run.result.get("client") != "httpx"]
    cheapest = min(sum(cpu_per_request(run)) for run in closed)
    return cheapest, h.machine.cpus * 1000 / cheapest


def reads_section(h: ReadsReport) -> list[str]:
    s = h.store
    head = h.headline
    loop, parser = h.server
    think = h.thinking
    lines = [
        "## (h) Timeline and funnel reads under load",
        "",
        f"- measured by: `{h.command}`" + (" (**quick smoke run: small sizes**)" if h.quick else ""),
        f"- date: {h.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC ((h) took {h.seconds / 60:.1f} min, filling the"
        " store included)",
        f"- machine: {h.machine.cpus} CPUs ({h.machine.cpu_model}), {h.machine.memory_bytes / 2**30:.1f} GiB,"
        f" Python {h.machine.python}, PostgreSQL {h.machine.postgres}, kernel {h.machine.kernel},"
        f" code {' then '.join(h.code)}",
        f"- software: {', '.join(f'{n} {version(n)}' for n in SOFTWARE)}",
        f"- load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in h.load_before)};"
        f" after: {'/'.join(f'{x:.2f}' for x in h.load_after)} (the machine is shared with other engineers' work)",
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
        f" {parser} named explicitly, the access log off, a pool of {h.default_pool} connections (the default),"
        " its projector polling in the background, and a headless Temporal dev server that reads never use. The"
        " load generator (`python -m bench.loadgen`) is a second process on the same 2 cores: each client is an"
        " asyncio task with a keep-alive connection of its own, speaking HTTP/1.1 itself over asyncio transports"
        " on uvloop (request header bytes built once; a parser for status line, headers and content-length),"
        " because httpx cost about as much CPU per request as the API itself (one closed-loop run below still uses"
        " httpx, for comparison). The clients send GETs of a random participant's timeline"
        " (`/api/v1/cohorts/{id}/participants/{pid}/timeline`) or a random cohort's funnel"
        " (`/api/v1/cohorts/{id}/funnel`), half and half, with the auditor's bearer token. Closed loop: each client"
        " sends its next request as soon as the answer is in. Thinking: after each answer a client waits an"
        " exponentially distributed pause of mean clients ÷ offered rate (1 s for 100 clients at 100 req/s, as"
        " people or scripts working at once would), so the rate served falls below the rate offered as latency"
        " grows. Latency is measured in the load generator from writing the request to the last byte of the"
        " answer, so it includes waiting in the generator's own event loop. Each run has a"
        f" {head.result['warmup']:.0f} s warm-up that is not counted, then {head.result['seconds']:.0f} s measured."
        " Errors are answers other than 200 and transport failures.",
        "",
        "### (a) Closed loop (no think time)",
        "",
        *ROUTE_TABLE,
    ]
    for run in h.runs:
        if not offered(run):
            lines += route_rows(run, describe_run(run))
    lines += [""]
    if think is not None:
        lines += [
            f"### (b) {think.clients} clients thinking {think.clients / offered(think):.2g} s on average between"
            " requests",
            "",
            *ROUTE_TABLE,
            *route_rows(think, describe_run(think)),
            "",
        ]
    lines += sweep_section(h)
    lines += trace_section(h)
    lines += cpu_section(h)
    lines += time_goes(h)
    return lines


def sweep_section(h: ReadsReport) -> list[str]:
    if not h.sweep:
        return []
    lines = [
        f"### (c) Offered rate from {h.sweep[0].clients} thinking clients",
        "",
        "| offered | mean think | served | timeline p50 | timeline p95 | timeline p99 | funnel p50 | funnel p95 |"
        " funnel p99 | errors | CPU per request: API / generator / PostgreSQL | whole machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in h.sweep:
        tl, fn, al = run.route("timeline"), run.route("funnel"), run.route("all")
        a, g, p = cpu_per_request(run)
        lines.append(
            f"| {offered(run):,.0f} req/s | {run.clients / offered(run):.3g} s | {al['per_second']:,.0f} req/s |"
            f" {ms(tl['p50_ms'])} | {ms(tl['p95_ms'])} | {ms(tl['p99_ms'])} | {ms(fn['p50_ms'])} |"
            f" {ms(fn['p95_ms'])} | {ms(fn['p99_ms'])} | {al['errors']} | {a:.2f} / {g:.2f} / {p:.2f} ms |"
            f" {machine_busy(run, h.machine.cpus):.0%} |"
        )
    ceiling = h.ceiling
    above = next((run for run in h.sweep if not kept(run)), None)
    lines += [
        "",
        (
            f"The highest offered rate up to which every rate of the sweep kept both routes' p99"
            f" ≤ {READ_P99_MS:.0f} ms (and no errors): **{offered(ceiling):,.0f} req/s**"
            f" ({ceiling.route('all')['per_second']:,.0f} served)."
            if ceiling is not None
            else f"Not even the lowest offered rate of the sweep kept both routes' p99 ≤ {READ_P99_MS:.0f} ms."
        )
        + (
            f" At {offered(above):,.0f} req/s the worse route's p99 was {ms(worst_p99(above))}{later_text(h)}."
            if above is not None
            else f" Every rate of the sweep did, up to {offered(h.sweep[-1]):,.0f} req/s."
        ),
        "",
    ]
    return lines


def later_text(h: ReadsReport) -> str:
    """The higher rates that kept within the target after a lower one had not, if any, and why that can be."""
    later = h.kept_later
    if not later:
        return ""
    which = ", ".join(f"{offered(run):,.0f} req/s (p99 {ms(worst_p99(run))})" for run in later)
    return (
        f"; {which} kept within it again, after a lower rate had not: a p99 over 30 s moves with the other"
        " work on this shared machine (see whole machine busy)"
    )


def trace_section(h: ReadsReport) -> list[str]:
    s = h.store
    lines = [
        "### Database work per request",
        "",
        "What one request of each route does in PostgreSQL, recorded from the real app (served in the benchmark"
        " process through `httpx.ASGITransport`, each route asked once before, as a running API would have"
        " been; psycopg's cursor `execute`, connection `commit` and the pool's `getconn` counted), with each"
        f" statement run again under `EXPLAIN ANALYZE` (cohort {s.cohorts[len(s.cohorts) // 2][0]}, one"
        " participant). Read routes borrow one connection per request, check the token on it and read on it in"
        " autocommit mode, so no statement is wrapped in a BEGIN and a COMMIT:",
        "",
        "| route | pool checkouts | transactions | statements | round trips (BEGIN and COMMIT included) |"
        " statement: tables read → plan (execution) |",
        "|---|---|---|---|---|---|",
    ]
    for t in s.traces:
        plans = "<br>".join(f"{p.tables} → {p.nodes} ({p.execution_ms:.2f} ms)" for p in t.plans)
        lines.append(f"| {t.route} | {t.checkouts} | {t.transactions} | {t.statements} | {t.round_trips} | {plans} |")
    return [*lines, ""]


def cpu_section(h: ReadsReport) -> list[str]:
    lines = [
        "### CPU per request",
        "",
        "CPU time of each process during each run (warm-up included), per request served, and how busy the"
        " API process (one thread of Python), our three processes together and the whole machine (everything"
        " running on it, other engineers' work included) were:",
        "",
        "| run | API | load generator | PostgreSQL | total | API, of one core | ours, of the machine |"
        " whole machine busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in h.runs:
        a, g, p = cpu_per_request(run)
        lines.append(
            f"| {describe_run(run)} | {a:.2f} ms | {g:.2f} ms | {p:.2f} ms | {a + g + p:.2f} ms |"
            f" {run.api_cpu_seconds / run.wall_seconds:.0%} | {ours(run, h.machine.cpus):.0%} |"
            f" {machine_busy(run, h.machine.cpus):.0%} |"
        )
    a, g, p = cpu_per_request(h.headline)
    lines += [
        "",
        f"Before: {PREVIOUS}. Now, in the same closed loop (API + load generator + PostgreSQL): {a:.2f} +"
        f" {g:.2f} + {p:.2f} = {a + g + p:.2f} ms.",
    ]
    httpx_run = next((run for run in h.runs if run.label == "httpx"), None)
    if httpx_run is not None:
        ha, hg, _ = cpu_per_request(httpx_run)
        lines[-1] += (
            f" With the httpx generator in this run the generator took {hg:.2f} ms a request (the API {ha:.2f} ms),"
            f" against {g:.2f} ms for the raw one."
        )
    return [*lines, ""]


def time_goes(h: ReadsReport) -> list[str]:
    head = h.headline
    head_all = head.route("all")
    single = h.single
    api_ms, gen_ms, pg_ms = cpu_per_request(head)
    cheapest, cap = capacity(h)
    closed = [run for run in h.runs if run.clients > 1 and not offered(run) and run.result.get("client") != "httpx"]
    api_cheapest = min(cpu_per_request(run)[0] for run in closed)
    one_core = 1000 / api_cheapest
    fastest = max(closed, key=lambda run: run.route("all")["per_second"])
    needed = head.clients / (READ_P99_MS / 1000)
    slowest = max((p.execution_ms for t in h.store.traces for p in t.plans), default=0.0)
    busy = machine_busy(head, h.machine.cpus)
    lines = [
        "### Where the time goes",
        "",
        f"With one client a read takes p50 {ms(single.route('all')['p50_ms'])} (timeline"
        f" {ms(single.route('timeline')['p50_ms'])}, funnel {ms(single.route('funnel')['p50_ms'])}); every"
        f" statement executes in {slowest:.2f} ms or less (the plans above). The {head.clients} closed-loop clients"
        f" keep {head.clients} requests in flight all the time, so by Little's law the mean latency is"
        f" {head.clients} ÷ throughput: {head_all['per_second']:,.0f} req/s gives"
        f" {head.clients / max(head_all['per_second'], 1) * 1000:,.0f} ms (measured mean {ms(head_all['mean_ms'])})."
        f" A p99 of {READ_P99_MS:.0f} ms for {head.clients} clients that never pause needs a mean well under"
        f" {READ_P99_MS:.0f} ms, that is well over {needed:,.0f} requests/s. Each request now costs {api_ms:.2f} ms"
        f" of CPU in the API, {gen_ms:.2f} ms in the load generator and {pg_ms:.2f} ms in PostgreSQL. The"
        f" {h.machine.cpus} cores could serve about {cap:,.0f} req/s at the lowest closed-loop cost of this run"
        f" ({cheapest:.2f} ms in all), but the API is one Python process and can use one core only: at its lowest"
        f" closed-loop cost, {api_cheapest:.2f} ms, that is about {one_core:,.0f} req/s"
        + (f", at least {needed / one_core:.1f}× short of what the target needs" if one_core < needed else "")
        + f". The fastest closed-loop run served {fastest.route('all')['per_second']:,.0f} req/s with the API"
        f" process at {fastest.api_cpu_seconds / fastest.wall_seconds:.0%} of a core and the whole machine"
        f" {machine_busy(fastest, h.machine.cpus):.0%} busy; in the first closed-loop run the whole machine was"
        f" {busy:.0%} busy"
        f" (our three processes {ours(head, h.machine.cpus):.0%}, the rest other work) and the API used"
        f" {head.api_cpu_seconds / head.wall_seconds:.0%} of a core.",
        "",
    ]
    repeat = next((run for run in h.runs if run.label == "repeat"), None)
    if repeat is not None:
        ra = repeat.route("all")
        lines.append(
            f"- Run to run: the closed loop repeated with the same settings gave p99 {ms(ra['p99_ms'])} and"
            f" {ra['per_second']:,.0f} req/s, against {ms(head_all['p99_ms'])} and {head_all['per_second']:,.0f}"
            " req/s the first time: the spread that other work on this shared machine puts into every figure."
        )
    if h.reads.profile:
        top = ", ".join(f"{name} {share:.0%}" for name, share in h.reads.profile[:10])
        framework = sum(share for name, share in h.reads.profile if name in ("fastapi", "starlette", "anyio"))
        database = sum(share for name, share in h.reads.profile if name in ("psycopg", "psycopg_pool"))
        lines.append(
            "- The API process under cProfile, timed by its CPU clock (`python -m bench.reads serve --profile"
            f" FILE`, a separate {head.clients}-client run whose figures are not reported), own CPU time by"
            f" package: {top}. FastAPI, Starlette and anyio (routing, dependencies, responses) take"
            f" {framework:.0%}, psycopg and its pool {database:.0%}."
        )
    traced = {t.route: t for t in h.store.traces}
    work = "; ".join(
        f"a {t.route}: {t.checkouts} checkout(s), {t.statements} statement(s), {t.round_trips} round trip(s)"
        for t in traced.values()
    )
    lines += [
        "- What the read path does per request now: one pool checkout shared by the token check and the reads, in"
        f" autocommit mode ({work}; before, a timeline took 3 checkouts and 9 round trips and a funnel 1 and 3);"
        " no token cache, so a revocation counts from the very next request (the lookup is"
        " one indexed statement on a connection the request holds anyway); the funnel answers with the JSON"
        " it serialised once for the projected position, the timeline with JSON serialised straight from its"
        " model, instead of FastAPI validating each answer against its model again; the read routes (with the"
        " cohort commands, which share a path with them) are"
        " matched before the others (FastAPI tries routes in turn at several microseconds each), with the"
        " OpenAPI document still in the declared order; uvicorn with the access log off.",
        f"- What would bring p99 under {READ_P99_MS:.0f} ms for {head.clients} clients that never pause is more"
        " throughput than one API process gives: more uvicorn workers (one per core, on more cores than the two"
        " shared here with PostgreSQL and the load generator) or less work per request; of the API's own CPU,"
        " the framework's per-request work (above) is now the largest share.",
        "",
    ]
    return lines


def summary_read_rows(h: ReadsReport) -> list[str]:
    """(h)'s rows of the summary in docs/benchmarks.md: figures for each reading of the target, no verdict."""
    head, thinking, ceiling = h.headline, h.thinking, h.ceiling
    measured = [
        f"(a) closed loop: timeline p99 {ms(head.route('timeline')['p99_ms'])}, funnel p99"
        f" {ms(head.route('funnel')['p99_ms'])}, {head.route('all')['per_second']:,.0f} req/s"
    ]
    if thinking is not None:
        measured.append(
            f"(b) clients thinking {thinking.clients / offered(thinking):.2g} s on average"
            f" (≈{offered(thinking):,.0f} req/s): timeline p99 {ms(thinking.route('timeline')['p99_ms'])}, funnel"
            f" p99 {ms(thinking.route('funnel')['p99_ms'])}"
        )
    if h.sweep:
        measured.append(
            f"(c) both p99 ≤ {READ_P99_MS:.0f} ms up to {offered(ceiling):,.0f} req/s offered"
            f" ({ceiling.route('all')['per_second']:,.0f} served) of {', '.join(f'{offered(r):,.0f}' for r in h.sweep)}"
            f"{later_text(h)}"
            if ceiling is not None
            else f"(c) no offered rate of {', '.join(f'{offered(r):,.0f}' for r in h.sweep)} kept both p99"
            f" ≤ {READ_P99_MS:.0f} ms"
        )
    errors = sum(run.route("all")["errors"] for run in h.runs)
    a, g, p = cpu_per_request(head)
    return [
        f"| timeline and funnel p99 ≤ {READ_P99_MS:.0f} ms at {head.clients} clients, {h.store.events:,} events |"
        f" {'; '.join(measured)}; {errors} errors; CPU per request API {a:.2f} ms, load generator {g:.2f} ms,"
        f" PostgreSQL {p:.2f} ms (reads measured {h.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, code"
        f" {' then '.join(h.code)}; one API process, the 2 cores shared with the load generator) |"
        " figures per reading of the target |",
        f"| (reference) read-model projection | {h.store.projection_rate:,.0f} events/s | — |",
    ]


def summary(r: AdminReport) -> str:
    big = r.largest
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
            f" the duplicate check's keys are in temporary tables | {verdict(r.growth_ratio <= FLAT_RATIO)} |",
            *summary_read_rows(r.h),
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


def replace_rows(text: str, prefixes: tuple[str, ...], rows: list[str]) -> str:
    """``text`` with its lines beginning with any of ``prefixes`` replaced by ``rows``, where the first of them was."""
    lines = text.split("\n")
    at = next((i for i, line in enumerate(lines) if line.startswith(prefixes)), None)
    if at is None:
        raise ValueError(f"no line begins with any of {prefixes}")
    kept = [line for line in lines[at:] if not line.startswith(prefixes)]
    return "\n".join([*lines[:at], *rows, *kept])


def splice_reads(report: Path, summary_path: Path | None, h: ReadsReport) -> None:
    """Put (h)'s rows and section into documents a full run wrote, leaving everything of (g) as it is."""
    text = report.read_text(encoding="utf-8")
    text = replace_rows(text, READ_TARGET_PREFIXES, reads_target_rows(h))
    at = text.find("\n" + READ_SECTION)
    if at < 0:
        raise ValueError(f"{report} has no section beginning with {READ_SECTION!r}")
    report.write_text(text[: at + 1] + "\n".join(reads_section(h)) + "\n", encoding="utf-8")
    if summary_path is not None:
        current = summary_path.read_text(encoding="utf-8")
        start, end = current.find(SUMMARY_START), current.find(SUMMARY_END)
        if start < 0 or end < start:
            raise ValueError(f"{summary_path} has no administrators' summary to update")
        block = replace_rows(current[start:end], READ_SUMMARY_PREFIXES, summary_read_rows(h))
        summary_path.write_text(current[:start] + block + current[end:], encoding="utf-8")


def command_line(argv: list[str] | None) -> str:
    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = sys.executable
    return shlex.join([python, "-m", "bench.admin_run", *(sys.argv[1:] if argv is None else argv)])


def measure_h(server: str, sizes: Sizes, workdir: Path, machine: Machine, command: str, quick: bool) -> ReadsReport:
    """(h): fill a store of its own, serve it, and run every load plan against it."""
    default_pool = Settings().api_pool_size
    started_at, started, load_before = datetime.now().astimezone(), time.perf_counter(), os.getloadavg()
    url = create_database(server, "bench_reads")
    code_at_reads = code_version()
    say(f"(h) filling the store with {sizes.events:,} events")
    store, token = asyncio.run(build_store(url, sizes.events))
    reads = measure_reads(url, store, token, plans(sizes, default_pool), workdir)
    report = ReadsReport(
        machine=machine,
        command=command,
        started=started_at,
        seconds=time.perf_counter() - started,
        load_before=load_before,
        load_after=os.getloadavg(),
        quick=quick,
        store=store,
        reads=reads,
        default_pool=default_pool,
        server=server_flavour(),
        code=list(dict.fromkeys([code_at_reads, code_version()])),
    )
    if not quick:  # a smoke run's figures must not replace the last full run's
        KEPT.parent.mkdir(parents=True, exist_ok=True)
        KEPT.write_bytes(pickle.dumps(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (100k events, 10 s loads)")
    parser.add_argument("--reads-only", action="store_true", help="run (h) alone and replace only its parts")
    parser.add_argument("--render-reads", type=Path, metavar="FILE", help="(h)'s kept figures into the documents")
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
    if (args.reads_only or args.render_reads) and not out.exists():
        raise SystemExit(f"{out} does not exist: run without --reads-only or --render-reads first")
    if args.render_reads:
        kept_report: ReadsReport = pickle.loads(args.render_reads.read_bytes())  # our own file, written above
        splice_reads(out, summary_path, kept_report)
        say(f"replaced (h) in {out} with the figures of {kept_report.started:%Y-%m-%d %H:%M}")
        return 0
    command = command_line(argv)
    started_at, started, load_before = datetime.now().astimezone(), time.perf_counter(), os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="cohortflow-admin-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
    try:
        server = pg.url("postgres")
        machine = describe(server)
        say(f"machine: {machine.cpus} CPUs, {machine.cpu_model}; PostgreSQL {machine.postgres}")
        if args.reads_only:
            h = measure_h(server, sizes, workdir, machine, command, args.quick)
            splice_reads(out, summary_path, h)
            say(f"replaced (h) in {out}" + (f" and its rows in {summary_path}" if summary_path else ""))
            return 0
        imports, traced = run_imports(server, workdir, sizes.import_rows)
        h = measure_h(server, sizes, workdir, machine, command, args.quick)
        report = AdminReport(
            machine=machine,
            command=command,
            started=started_at,
            seconds=time.perf_counter() - started,
            load_before=load_before,
            load_after=os.getloadavg(),
            quick=args.quick,
            imports=imports,
            traced=traced,
            h=h,
            code=list(dict.fromkeys([machine.code, *h.code])),
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
