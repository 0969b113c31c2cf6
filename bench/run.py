"""Run every benchmark in one process against one embedded stack and write docs/benchmarks.md.

.venv/bin/python -m bench.run [--quick] [--skip-50k] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.append import bench_bulk_append
from bench.cycle import CycleResult, bench_cycle
from bench.databases import create_database
from bench.library_compare import compare
from bench.machine import describe
from bench.naive import bench_naive
from bench.progress import say
from bench.report import Report, render
from cohortflow.logs import configure_logging
from cohortflow.runtime.stack import Stack, local_stack
from cohortflow.settings import Settings

SEED = 2023
NAIVE_DAY_SECONDS = 0.005
"""The naive design sleeps on a compressed calendar on the dev server: about 5 s of timers in its whole run."""
SMALL_LIMIT_SECONDS = 300.0
LARGE_LIMIT_SECONDS = 1200.0
"""Twice the 10-minute target: a cycle still running then is reported as not finished."""
NAIVE_BUDGET_SECONDS = 600.0
"""The naive design gets ten minutes; if it has not finished by then, its time is estimated from its progress."""


@dataclass(frozen=True)
class Sizes:
    small_candidates: int
    small_selected: int
    large_candidates: int
    large_selected: int
    naive_participants: int
    append_events: int
    append_batch: int
    library_events: int


FULL = Sizes(
    small_candidates=5_000,
    small_selected=800,
    large_candidates=50_000,
    large_selected=8_000,
    naive_participants=5_000,
    append_events=200_000,
    append_batch=10_000,
    library_events=100_000,
)
QUICK = Sizes(
    small_candidates=500,
    small_selected=80,
    large_candidates=2_000,
    large_selected=320,
    naive_participants=500,
    append_events=2_000,
    append_batch=1_000,
    library_events=2_000,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (a few minutes)")
    parser.add_argument("--skip-50k", action="store_true", help="leave out the 50,000-candidate cycle")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="where to write the report")
    parser.add_argument(
        "--naive-participants",
        type=int,
        default=None,
        help="run the naive design for fewer participants and extrapolate linearly (default: the cycle's size)",
    )
    return parser.parse_args(argv)


def command_line(argv: list[str] | None) -> str:
    python = sys.executable
    relative = os.path.relpath(python)
    if not relative.startswith(".."):
        python = relative
    return shlex.join([python, "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])


def describe_cycle(label: str, c: CycleResult) -> None:
    if not c.finished:
        say(f"{label}: DID NOT FINISH after {c.cycle_seconds:.1f} s: {c.failure}; peak RSS {c.peak_rss / 2**20:.0f} MB")
        return
    say(
        f"{label}: {c.candidates:,} candidates, {c.events:,} events, {c.cycle_seconds:.1f} s to the result, "
        f"{c.total_seconds:.1f} s with summary and verification (timers {c.timers_seconds:.1f} s, imports "
        f"{c.imports_seconds:.1f} s, rest {c.rest_seconds:.1f} s); peak RSS {c.peak_rss / 2**20:.0f} MB; "
        f"largest run {c.history.max_events:,} events"
    )


async def run_all(stack: Stack, sizes: Sizes, args: argparse.Namespace, command: str) -> Report:
    started_at, started = datetime.now().astimezone(), time.perf_counter()
    load_before = os.getloadavg()
    machine = describe(stack.database_url)
    say(f"machine: {machine.cpus} CPUs, {machine.cpu_model}; PostgreSQL {machine.postgres}; {machine.temporal_cli}")

    say(f"(a) cycle of {sizes.small_candidates:,} candidates ({sizes.small_selected:,} selected)")
    small = await bench_cycle(
        stack.database_url,
        candidates=sizes.small_candidates,
        selected=sizes.small_selected,
        seed=SEED,
        limit_seconds=SMALL_LIMIT_SECONDS,
        say=say,
    )
    describe_cycle("(a) small cycle", small)

    large: CycleResult | None = None
    if args.skip_50k:
        say("(a) large cycle skipped (--skip-50k)")
    else:
        say(f"(a) cycle of {sizes.large_candidates:,} candidates ({sizes.large_selected:,} selected)")
        large = await bench_cycle(
            create_database(stack.database_url, "bench_cycle_large"),
            candidates=sizes.large_candidates,
            selected=sizes.large_selected,
            seed=SEED,
            limit_seconds=LARGE_LIMIT_SECONDS,
            say=say,
        )
        describe_cycle("(a) large cycle", large)

    participants = args.naive_participants or sizes.naive_participants
    scale = sizes.small_candidates / participants
    selected = round(sizes.small_selected / scale)
    say(f"(b) naive: one workflow per participant, {participants:,} participants ({selected:,} selected)")
    naive = await bench_naive(
        create_database(stack.database_url, "bench_naive"),
        stack.temporal_address,
        participants=participants,
        selected=selected,
        day_seconds=NAIVE_DAY_SECONDS,
        seed=SEED,
        budget_seconds=NAIVE_BUDGET_SECONDS,
        say=say,
    )
    if naive.finished:
        say(f"(b) naive: {naive.participants:,} participants in {naive.seconds:.1f} s ({naive.failed} failed)")
    else:
        say(
            f"(b) naive: unfinished after {naive.seconds:.1f} s ({naive.steps_done:,}/{naive.steps_expected:,} "
            f"activities); estimated {naive.estimated_seconds:.0f} s for the whole"
        )

    say(f"(c) bulk append: {sizes.append_events:,} events in batches of {sizes.append_batch:,}, store vs raw COPY")
    bulk = await bench_bulk_append(
        create_database(stack.database_url, "bench_append"), sizes.append_events, sizes.append_batch, say
    )
    say(f"(c) store {bulk.store_rate:,.0f} rows/s, raw COPY {bulk.raw_rate:,.0f} rows/s: {bulk.ratio:.0%}")

    say(f"(d) cohortflow vs the eventsourcing library, {sizes.library_events:,} events each")
    compared = await compare(
        create_database(stack.database_url, "bench_compare"),
        stack.database_url,
        sizes.library_events,
        sizes.append_batch,
        say,
    )
    store, library = compared.store, compared.library
    say(
        f"(d) append {store.append_rate:,.0f} vs {library.append_rate:,.0f} events/s "
        f"({store.append_rate / library.append_rate:.1f}×); replay {store.replay_rate:,.0f} vs "
        f"{library.replay_rate:,.0f} events/s"
    )
    return Report(
        machine=machine,
        command=command,
        started=started_at,
        seconds=time.perf_counter() - started,
        load_before=load_before,
        load_after=os.getloadavg(),
        quick=args.quick,
        small=small,
        large=large,
        naive=naive,
        naive_scale=scale,
        bulk=bulk,
        store=store,
        library=library,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.naive_participants is not None and not 0 < args.naive_participants <= sizes.small_candidates:
        raise SystemExit(f"--naive-participants must be between 1 and {sizes.small_candidates}")
    command = command_line(argv)
    configure_logging("console", "warning")
    state_dir = Path(tempfile.mkdtemp(prefix="cohortflow-bench-"))
    say(f"starting the embedded stack in {state_dir}")
    try:
        with local_stack(Settings(), state_dir, headless=True) as stack:
            report = asyncio.run(run_all(stack, sizes, args, command))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(report), encoding="utf-8")
    say(f"wrote {args.out} (whole run {report.seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
