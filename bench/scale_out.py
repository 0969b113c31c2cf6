"""`make bench-scale`: scale-out shown on one machine, and the per-participant figures a capacity plan needs.

    .venv/bin/python -m bench.scale_out [--people 50000] [--postgres debian|embedded] [--workers 2]
        [--reference] [--reminders] [--events 1000000] [--clients 100] [--skip-cycle] [--skip-reads] [--report FILE]

Everything is a process of its own, as a deployment runs it: a PostgreSQL
server that is not the embedded wheel's (Debian's ``postgresql``, started here
in a temporary directory; ``--postgres embedded`` for a machine without it),
Temporal's dev server, and several ``cohortflow worker`` processes on one task
queue.

**The cycle.** The fault run's cohort (:mod:`bench.faults`: the sample
programme, fed its files through the ``import_file`` Update phase by phase,
programme days compressed) runs to completion undisturbed on two workers. Then
every workflow's history is read back from Temporal: which worker process
started each activity (``ActivityTaskStarted.identity``), the history events and
the billable actions; the store gives its events, bytes and database time
(``pg_stat_database.active_time``). Checks: the cohort completed; no event is
recorded twice (an event named as the fault run names it is unique in an
undisturbed run); the chain verifies; activities ran on every worker. With
``--reference`` the same cohort also runs on one worker first, and its events
must be the two-worker run's, type by type and name by name. The fault run's reminder rules are
left out unless ``--reminders`` is given (nothing sends them here).

**The reads.** A second database on the same server is filled with
``--events`` events (:func:`bench.reads.build_store`) and read by 100
closed-loop clients (:mod:`bench.loadgen`) through one API process, then two
sharing one port (:mod:`bench.shared_port_api`).

A failed check is named and the command exits 1; ``--report`` writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import faults
from bench.debian_postgres import PackagedPostgres, PostgresMissing, find_bindir
from bench.machine import describe
from bench.progress import say
from bench.reads import LoadRun, build_store, cpu_seconds, cpu_used, postgres_processes, run_load
from cohortflow.audit.verify import verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.runtime.leftovers import read_pid_file, temporal_pid_file
from cohortflow.runtime.temporal import free_port
from cohortflow.services.cohorts import start_cohort
from cohortflow.store.eventstore import EventStore, libpq_url
from cohortflow.store.migrate import upgrade
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import CohortCycleInput

PEOPLE = 50_000
EVENTS = 1_000_000
CLIENTS = 100
WORKERS = 2
LOAD_SECONDS, WARMUP_SECONDS = 30.0, 5.0
ACTIONS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
}
"""History events that Temporal Cloud bills as an action (its pricing page); an activity's retries add one each."""

PostgresKind = Literal["debian", "embedded"]


class ScaleStack(faults.Stack):
    """The fault run's servers with ``workers`` worker processes, no mail, and the PostgreSQL server chosen."""

    def __init__(self, workdir: Path, task_queue: str, postgres: PostgresKind, workers: int) -> None:
        super().__init__(workdir, task_queue)
        self.postgres_kind = postgres
        self.packaged: PackagedPostgres | None = None
        self.worker_count = workers
        self.workers: list[subprocess.Popen[bytes]] = []

    async def start(self) -> None:
        await self.start_postgres()
        await asyncio.to_thread(upgrade, self.database_url)
        self.start_temporal()
        self.start_worker()

    async def start_postgres(self) -> None:
        if self.postgres_kind == "embedded":
            await super().start_postgres()
            return
        self.packaged = await asyncio.to_thread(PackagedPostgres, self.pg_dir)
        self.database_url = self.packaged.ensure_database()

    def start_worker(self) -> None:
        for n in range(1, self.worker_count + 1):
            super().start_worker()
            assert self.worker is not None
            (self.logs / "worker.log").rename(self.logs / f"worker-{n}.log")
            self.workers.append(self.worker)

    def exited_by_itself(self) -> str | None:
        for n, worker in enumerate(self.workers, 1):
            if worker.poll() is not None:
                return f"worker {n} exited by itself (code {worker.returncode}); see {self.logs / f'worker-{n}.log'}"
        return None

    def temporal_pid(self) -> int | None:
        return read_pid_file(temporal_pid_file(self.db_file.resolve()))

    async def stop(self) -> None:
        self.worker = None
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if self.packaged is None:
            await super().stop()
            return
        if self.temporal is not None:
            self.temporal.stop()
        self.packaged.stop()


# --- what the cycle cost -------------------------------------------------------------


@dataclass
class DatabaseSample:
    bytes: int
    active_ms: float
    commits: int
    inserted: int


def database_sample(url: str) -> DatabaseSample:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT pg_database_size(datname), active_time, xact_commit, tup_inserted"
            " FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return DatabaseSample(int(row[0]), float(row[1] or 0.0), int(row[2]), int(row[3]))


@dataclass
class Histories:
    workflows: int = 0
    events: int = 0
    bytes: int = 0
    actions: int = 0
    activities_by_identity: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)


async def read_histories(client: Client) -> Histories:
    """Every workflow run on the server, its history counted: events, bytes, actions, who started each activity."""
    found = Histories()
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        found.workflows += 1
        for event in history.events:
            found.events += 1
            found.bytes += event.ByteSize()
            found.types[EventType.Name(event.event_type)] += 1
            if event.event_type in ACTIONS:
                found.actions += 1
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attributes = event.activity_task_started_event_attributes
                found.activities_by_identity[attributes.identity] += 1
                found.actions += max(0, attributes.attempt - 1)
    return found


@dataclass
class CycleFigures:
    label: str
    people: int
    workers: int
    seconds: float
    counters: dict[str, Any]
    events: int
    counts: Counter[str]
    keys: Counter[tuple[str, ...]]
    chain_ok: bool
    chain_checked: int
    activities_per_worker: dict[str, int]
    history: Histories
    database_bytes: int
    database_active_seconds: float
    database_commits: int
    cpu_seconds: dict[str, float]
    """CPU used during the cycle by the workers, the Temporal server, PostgreSQL and this driver."""
    machine: dict[str, Any]

    def per_participant(self) -> dict[str, float]:
        n = self.people
        return {
            "store_events": self.events / n,
            "store_bytes": self.database_bytes / n,
            "database_seconds": self.database_active_seconds / n,
            "database_commits": self.database_commits / n,
            "temporal_history_events": self.history.events / n,
            "temporal_history_bytes": self.history.bytes / n,
            "temporal_actions": self.history.actions / n,
            "activities": sum(self.activities_per_worker.values()) / n,
            **{f"cpu_seconds_{k}": v / n for k, v in self.cpu_seconds.items()},
        }


def _worker_name(identity: str, workers: list[subprocess.Popen[bytes]]) -> str:
    pid = identity.split("@", 1)[0]
    for n, worker in enumerate(workers, 1):
        if pid == str(worker.pid):
            return f"worker-{n} (pid {pid})"
    return identity


async def run_cycle(
    label: str, people: int, workers: int, postgres: PostgresKind, seed: int, day: float, reminders: bool
) -> CycleFigures:
    workdir = Path(tempfile.mkdtemp(prefix=f"cohortflow-scale-{label}-"))
    stack = ScaleStack(workdir, f"scale-{label}-{uuid.uuid4().hex[:6]}", postgres, workers)
    selected = max(14, round(people * faults.SELECTED_SHARE))
    programme = faults.fault_programme(people, selected) if reminders else sample_programme(people, selected)
    cohort_id = f"scale-{label}"
    say(f"{label}: {people:,} people on {workers} worker(s), PostgreSQL {postgres}; servers in {workdir}")
    kept = False
    try:
        await stack.start()
        client = await connect_client(stack.address)
        store = await EventStore.connect(stack.database_url)
        try:
            processes = _cycle_processes(stack)
            cpu_before = {name: cpu_seconds(p) for name, p in processes.items()}
            db_before = database_sample(stack.database_url)
            waits = faults.WAIT_FOR_REMINDERS if reminders else {}
            driver = faults.Driver(client, store, stack, cohort_id, programme, seed, waits)
            inp = CohortCycleInput(cohort_id=cohort_id, programme=programme, day_seconds=day, actor="scale")
            started = time.monotonic()
            await start_cohort(client, inp, stack.task_queue)
            result = await _drive(driver, stack)
            seconds = time.monotonic() - started
            say(f"{label}: cohort completed in {seconds:.1f} s ({result.counters.completed:,} completed)")
            db_after = database_sample(stack.database_url)
            processes = _cycle_processes(stack)
            cpu = {name: cpu_used(cpu_before[name], cpu_seconds(p)) for name, p in processes.items()}
            machine = await asyncio.to_thread(describe, stack.database_url)
            history = await read_histories(client)
            counts, keys, _, _ = await faults.recorded(store)
            chain = await verify_store(store)
        finally:
            await store.close()
    except BaseException:
        kept = True
        say(f"{label}: logs and data kept in {workdir}")
        raise
    finally:
        await stack.stop()
        if not kept:
            shutil.rmtree(workdir, ignore_errors=True)
    per_worker = Counter({_worker_name(i, stack.workers): n for i, n in history.activities_by_identity.items()})
    say(f"{label}: activities per worker: " + ", ".join(f"{k} {v:,}" for k, v in sorted(per_worker.items())))
    return CycleFigures(
        label=label,
        people=people,
        workers=workers,
        seconds=seconds,
        counters=result.counters.model_dump(),
        events=sum(counts.values()),
        counts=counts,
        keys=keys,
        chain_ok=chain.ok,
        chain_checked=chain.checked,
        activities_per_worker=dict(per_worker),
        history=history,
        database_bytes=db_after.bytes - db_before.bytes,
        database_active_seconds=(db_after.active_ms - db_before.active_ms) / 1000,
        database_commits=db_after.commits - db_before.commits,
        cpu_seconds=cpu,
        machine=asdict(machine),
    )


def _cycle_processes(stack: ScaleStack) -> dict[str, list[psutil.Process]]:
    temporal = stack.temporal_pid()
    return {
        "workers": [psutil.Process(w.pid) for w in stack.workers],
        "temporal": [psutil.Process(temporal)] if temporal is not None else [],
        "postgres": postgres_processes(stack.database_url),
        "driver": [psutil.Process()],
    }


async def _drive(driver: faults.Driver, stack: ScaleStack) -> Any:
    """The driver's feeding to the cohort's result; a worker that exits on its own fails the run at once."""
    driving = asyncio.ensure_future(driver.drive())
    try:
        while not driving.done():
            await asyncio.wait([driving], timeout=2.0)
            problem = stack.exited_by_itself()
            if problem is not None:
                raise faults.RunFailed(problem)
        return driving.result()
    finally:
        driving.cancel()


# --- checks ------------------------------------------------------------------------


def cycle_checks(run: CycleFigures, reference: CycleFigures | None) -> list[faults.Check]:
    found = []
    busy = [name for name, n in run.activities_per_worker.items() if n > 0]
    found.append(
        faults.Check(
            "activities on every worker",
            len(busy) == run.workers,
            ", ".join(f"{k}: {v:,}" for k, v in sorted(run.activities_per_worker.items())),
        )
    )
    doubled = {k: n for k, n in run.keys.items() if n > 1}
    found.append(
        faults.Check(
            "no event doubled",
            not doubled,
            f"{len(doubled)} named twice or more, e.g. {sorted(doubled)[:3]}" if doubled else "every event named once",
        )
    )
    found.append(
        faults.Check(
            "chain intact",
            run.chain_ok and run.chain_checked == run.events,
            f"verify_store checked {run.chain_checked:,} of {run.events:,} events",
        )
    )
    if reference is not None:
        found.append(
            faults.Check(
                "cohort completed as on one worker",
                run.counters == reference.counters,
                f"counters {run.counters} (one worker: {reference.counters})",
            )
        )
        types = sorted(set(reference.counts) | set(run.counts))
        differ = [
            f"{t} {run.counts[t]} (one worker {reference.counts[t]})"
            for t in types
            if run.counts[t] != reference.counts[t]
        ]
        found.append(
            faults.Check(
                "events per type",
                not differ,
                "; ".join(differ) if differ else f"{len(types)} types, {run.events:,} events, as on one worker",
            )
        )
        lost = reference.keys - run.keys
        found.append(
            faults.Check(
                "no event lost",
                not lost,
                f"{sum(lost.values())} missing, e.g. {sorted(lost)[:3]}" if lost else "every one-worker event is there",
            )
        )
    return found


# --- the reads ------------------------------------------------------------------------


@dataclass
class ReadsFigures:
    events: int
    participants: int
    load_seconds: float
    projection_seconds: float
    runs: list[dict[str, Any]]
    machine: dict[str, Any]


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    try:
        connections = psutil.Process(process.pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


@contextmanager
def api_processes(count: int, url: str, temporal: str, port: int, log: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` API processes sharing ``port``, each listening before this yields."""
    cmd = [sys.executable, "-m", "bench.shared_port_api", "--database-url", url, "--temporal-address", temporal]
    cmd += ["--port", str(port)]
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as out:
            started += [subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT) for _ in range(count)]
        deadline = time.monotonic() + 120
        while not all(_listening(p, port) for p in started):
            if any(p.poll() is not None for p in started) or time.monotonic() > deadline:
                raise faults.RunFailed(f"an API process did not start; see {log}")
            time.sleep(0.2)
        yield started
    finally:
        for p in started:
            p.terminate()
        for p in started:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def other_database(url: str, name: str) -> str:
    """The URL of another database on the same server (the embedded server's URL carries its socket as a query)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def measure_reads(stack: ScaleStack, total: int, clients: int, seconds: float) -> ReadsFigures:
    with psycopg.connect(libpq_url(other_database(stack.database_url, "postgres")), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "reads"')
    url = other_database(stack.database_url, "reads")
    await asyncio.to_thread(upgrade, url)
    store, secret = await build_store(url, total)
    targets = stack.workdir / "targets.json"
    targets.write_text(json.dumps({"cohorts": store.cohorts}))
    runs: list[dict[str, Any]] = []
    for count in (1, 2):
        port = free_port()
        with api_processes(count, url, stack.address, port, stack.logs / f"api-{count}.log") as apis:
            say(f"reads: {count} API process(es) on port {port}, {clients} closed-loop clients")
            api_procs = [psutil.Process(p.pid) for p in apis]
            before = cpu_seconds(api_procs)
            run: LoadRun = await asyncio.to_thread(
                run_load,
                f"{count} API",
                url,
                apis[0],
                f"http://127.0.0.1:{port}",
                secret,
                targets,
                clients=clients,
                seconds=seconds,
                warmup=WARMUP_SECONDS,
                pool_size=10,
            )
            api_cpu = cpu_used(before, cpu_seconds(api_procs))
        runs.append(
            {
                "api_processes": count,
                "clients": clients,
                "routes": {name: run.route(name) for name in ("timeline", "funnel")},
                "all": run.route("all"),
                "api_cpu_seconds": api_cpu,
                "postgres_cpu_seconds": run.postgres_cpu_seconds,
                "load_generator_cpu_seconds": run.result["cpu_seconds"],
                "wall_seconds": run.wall_seconds,
                "machine_busy_seconds": run.machine_busy_seconds,
            }
        )
    machine = asdict(await asyncio.to_thread(describe, url))
    return ReadsFigures(store.events, store.participants, store.load_seconds, store.projection_seconds, runs, machine)


async def reads_only(postgres: PostgresKind, total: int, clients: int, seconds: float) -> ReadsFigures:
    workdir = Path(tempfile.mkdtemp(prefix="cohortflow-scale-reads-"))
    stack = ScaleStack(workdir, "scale-reads", postgres, workers=0)
    try:
        await stack.start()
        figures = await measure_reads(stack, total, clients, seconds)
    except BaseException:
        say(f"reads: logs and data kept in {workdir}")
        await stack.stop()
        raise
    await stack.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return figures


def cycle_report(run: CycleFigures) -> dict[str, Any]:
    return {
        "people": run.people,
        "workers": run.workers,
        "seconds": run.seconds,
        "counters": run.counters,
        "events": run.events,
        "counts": dict(sorted(run.counts.items())),
        "activities_per_worker": run.activities_per_worker,
        "workflows": run.history.workflows,
        "history_events": run.history.events,
        "history_bytes": run.history.bytes,
        "actions": run.history.actions,
        "history_types": dict(sorted(run.history.types.items())),
        "database_bytes": run.database_bytes,
        "database_active_seconds": run.database_active_seconds,
        "database_commits": run.database_commits,
        "cpu_seconds": run.cpu_seconds,
        "per_participant": run.per_participant(),
        "machine": run.machine,
    }


# --- the command ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=PEOPLE, help="candidates of the cycle")
    parser.add_argument("--postgres", choices=("debian", "embedded"), default="debian")
    parser.add_argument("--workers", type=int, default=WORKERS, help="worker processes")
    parser.add_argument("--reference", action="store_true", help="run the cycle on one worker first and compare")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument(
        "--reminders", action="store_true", help="the fault run's reminder rules too (queued, not sent: no mail server)"
    )
    parser.add_argument("--day-seconds", type=float, default=faults.DAY_SECONDS)
    parser.add_argument("--events", type=int, default=EVENTS, help="events in the store the reads are made on")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=LOAD_SECONDS, help="measured seconds of each read run")
    parser.add_argument("--skip-cycle", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--report", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.workers < 2 and not args.skip_cycle:
        parser.error("--workers must be 2 or more: the cycle is to spread over several workers")
    try:
        if args.postgres == "debian":
            find_bindir()  # before any server starts: a missing package is said first, and how to install it
        return asyncio.run(scale_out(args))
    except PostgresMissing as exc:
        print(exc, file=sys.stderr)
        return 2


async def scale_out(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.scale_out", *sys.argv[1:]]),
        "started": started.isoformat(),
        "load_average_before": load_before,
        "postgres": args.postgres,
    }
    found: list[faults.Check] = []
    try:
        if not args.skip_cycle:
            reference = None
            if args.reference:
                reference = await run_cycle(
                    "one-worker", args.people, 1, args.postgres, args.seed, args.day_seconds, args.reminders
                )
            run = await run_cycle(
                "two-workers", args.people, args.workers, args.postgres, args.seed, args.day_seconds, args.reminders
            )
            found += cycle_checks(run, reference)
            report["cycle"] = cycle_report(run)
            if reference is not None:
                report["reference_seconds"] = reference.seconds
        if not args.skip_reads:
            reads = await reads_only(args.postgres, args.events, args.clients, args.seconds)
            report["reads"] = asdict(reads)
    except faults.RunFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    report["load_average_after"] = os.getloadavg()
    report["finished"] = datetime.now(UTC).isoformat()
    report["checks"] = [asdict(c) for c in found]
    for check in found:
        say(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2, default=str))
        say(f"figures written to {args.report}")
    failed = [c.name for c in found if not c.ok]
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
