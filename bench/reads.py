"""(h) Timeline and funnel reads under load, with a large store behind the API.

The store is filled with whole cohorts as in the audit benchmark
(:func:`bench.audit_run.load`), the read models are projected from it (timed),
an auditor token is issued, and the API is started as its own process
(``python -m bench.reads serve``: uvicorn serving ``create_app``, one worker).
The load generator (:mod:`bench.loadgen`) is a second process; this one only
starts them, samples their CPU time and reads the generator's JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from unittest.mock import patch

import httpx
import psutil
import psycopg
import uvicorn
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from bench.audit_run import load
from bench.progress import say
from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.logs import configure_logging
from cohortflow.readmodels.projector import Projector
from cohortflow.runtime.temporal import TemporalDevServer, free_port
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore, libpq_url


@dataclass(frozen=True)
class StoreFigures:
    events: int
    cohorts: list[tuple[str, int]]
    load_seconds: float
    projected: int
    projection_seconds: float
    participants: int
    traces: list[RouteTrace]

    @property
    def projection_rate(self) -> float:
        return self.projected / self.projection_seconds


@dataclass(frozen=True)
class LoadRun:
    label: str
    clients: int
    pool_size: int
    result: dict[str, Any]
    """What the load generator printed."""
    api_cpu_seconds: float
    postgres_cpu_seconds: float
    wall_seconds: float
    machine_busy_seconds: float
    """CPU seconds the whole machine spent busy during the run (every process, ours or not), all cores."""

    def route(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.result["routes"][name] if name != "all" else self.result["all"]
        return found


async def build_store(url: str, total: int) -> tuple[StoreFigures, str]:
    """Fill the store, project the read models, issue an auditor token; returns the figures and its secret."""
    store = await EventStore.connect(url)
    try:
        started = time.perf_counter()
        cohorts = await load(store, total)
        load_seconds = time.perf_counter() - started
        events = (await store.head()).position
        say(f"(h) {events:,} events stored in {load_seconds:.1f} s; projecting the read models")
        projector = Projector(store)
        started = time.perf_counter()
        projected = await projector.catch_up(wait=True)
        projection_seconds = time.perf_counter() - started
        say(
            f"(h) projected {projected:,} events in {projection_seconds:.1f} s"
            f" ({projected / projection_seconds:,.0f}/s)"
        )
        token = await issue_token(store.pool, name="bench-reads", role="auditor", prefecture=None, issued_by="bench")
        async with store.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM rm_participants")).fetchone()
        participants = int(row[0]) if row else 0
    finally:
        await store.close()
    # Statistics and the visibility map as autovacuum would leave them on a store that has settled.
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    cohort_id, candidates = cohorts[len(cohorts) // 2]
    traces = await trace_routes(url, token.secret, cohort_id, f"P{candidates // 2:06d}")
    for trace in traces:
        say(
            f"(h) one {trace.route} request: {trace.checkouts} pool checkouts, {trace.transactions} transactions, "
            f"{trace.statements} statements; " + "; ".join(f"{p.tables}: {p.nodes}" for p in trace.plans)
        )
    figures = StoreFigures(events, cohorts, load_seconds, projected, projection_seconds, participants, traces)
    return figures, token.secret


@dataclass(frozen=True)
class QueryPlan:
    tables: str
    """The tables the statement reads, which name it well enough."""
    nodes: str
    """The plan's nodes, outermost first, with the index each scan uses."""
    execution_ms: float


@dataclass(frozen=True)
class RouteTrace:
    """What one request of a route did in the database, as the real app ran it."""

    route: str
    checkouts: int
    transactions: int
    statements: int
    plans: list[QueryPlan]

    @property
    def round_trips(self) -> int:
        """Each statement, and a BEGIN and a COMMIT for each transaction."""
        return self.statements + 2 * self.transactions


class _Recorder:
    """Counts pool checkouts, transactions and statements while a request runs, keeping the statements."""

    def __init__(self) -> None:
        self.active = False
        self.checkouts = 0
        self.transactions = 0
        self.statements: list[tuple[Any, Any]] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        recorder = self
        execute, commit = psycopg.AsyncCursor.execute, psycopg.AsyncConnection.commit
        getconn = AsyncConnectionPool.getconn

        async def recording_execute(cur: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            if recorder.active:
                recorder.statements.append((query, params))
            return await execute(cur, query, params, **kwargs)

        async def counting_commit(conn: Any) -> None:
            if recorder.active and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                recorder.transactions += 1
            await commit(conn)

        async def counting_getconn(pool: Any, timeout: float | None = None) -> Any:
            if recorder.active:
                recorder.checkouts += 1
            return await getconn(pool, timeout)

        with (
            patch.object(psycopg.AsyncCursor, "execute", recording_execute),
            patch.object(psycopg.AsyncConnection, "commit", counting_commit),
            patch.object(AsyncConnectionPool, "getconn", counting_getconn),
        ):
            yield

    @contextmanager
    def recording(self) -> Iterator[None]:
        self.checkouts = self.transactions = 0
        self.statements = []
        self.active = True
        try:
            yield
        finally:
            self.active = False


async def trace_routes(url: str, secret: str, cohort_id: str, participant_id: str) -> list[RouteTrace]:
    """Serve one timeline and one funnel request from the real app in this process, recording what each does.

    Each route is asked once first, so that whatever the app caches between requests is cached, as in a
    running API; the statements of the second request are then run again under ``EXPLAIN ANALYZE``.
    """
    settings = Settings(api_pool_size=2, projection_interval=3600.0)
    no_temporal = cast(Client, object())  # reads never use Temporal
    app = create_app(settings, url, temporal=no_temporal)
    routes = {
        "timeline": f"/api/v1/cohorts/{cohort_id}/participants/{participant_id}/timeline",
        "funnel": f"/api/v1/cohorts/{cohort_id}/funnel",
    }
    recorder = _Recorder()
    traces = []
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + 60
        while app.state.projected_to < 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the projector's first pass, as in a running API
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as http:
            with recorder.installed():
                for route, path in routes.items():
                    (await http.get(path)).raise_for_status()
                    with recorder.recording():
                        (await http.get(path)).raise_for_status()
                    plans = await _explain(app.state.store, recorder.statements)
                    traces.append(
                        RouteTrace(route, recorder.checkouts, recorder.transactions, len(recorder.statements), plans)
                    )
    return traces


async def _explain(store: EventStore, statements: list[tuple[Any, Any]]) -> list[QueryPlan]:
    plans = []
    async with store.pool.connection() as conn:
        for query, params in statements:
            text = query if isinstance(query, str) else query.as_string(conn)
            cur = await conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}", params)
            row = await cur.fetchone()
            assert row is not None
            plan = row[0][0]
            tables = ", ".join(dict.fromkeys(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", text, flags=re.IGNORECASE)))
            plans.append(QueryPlan(tables, " → ".join(_nodes(plan["Plan"])), float(plan["Execution Time"])))
    return plans


def _nodes(node: dict[str, Any]) -> list[str]:
    name = node["Node Type"] + (f" ({node['Index Name']})" if "Index Name" in node else "")
    found = [name]
    for child in node.get("Plans", []):
        found += _nodes(child)
    return found


def postgres_processes(url: str) -> list[psutil.Process]:
    """The PostgreSQL server's processes (postmaster and its children)."""
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    if row is None:
        return []
    pid = int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for p in processes:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        seconds[p.pid] = t.user + t.system
    return seconds


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples (processes started in between count from zero)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


@contextmanager
def api_process(
    url: str, temporal_address: str, port: int, pool_size: int, log: Path, profile: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "bench.reads", "serve", "--database-url", url]
    cmd += ["--temporal-address", temporal_address, "--port", str(port), "--pool-size", str(pool_size)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API process exited with code {process.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer at {base} within {timeout:.0f} s")


def run_load(
    label: str,
    url: str,
    api: subprocess.Popen[bytes],
    base: str,
    token: str,
    targets: Path,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    pool_size: int,
    rate: float = 0.0,
    client: str = "raw",
) -> LoadRun:
    """Start the load generator as a second process and read its JSON; CPU of the API and PostgreSQL alongside."""
    cmd = [sys.executable, "-m", "bench.loadgen", "--url", base, "--token", token, "--targets", str(targets)]
    cmd += ["--clients", str(clients), "--seconds", str(seconds), "--warmup", str(warmup), "--rate", str(rate)]
    cmd += ["--client", client]
    api_proc, pg = psutil.Process(api.pid), postgres_processes(url)
    api_before, pg_before = cpu_seconds([api_proc]), cpu_seconds(pg)
    machine_before = psutil.cpu_times()
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=warmup + seconds + 600)
    wall = time.perf_counter() - started
    machine_after = psutil.cpu_times()
    api_after, pg_after = cpu_seconds([api_proc]), cpu_seconds(postgres_processes(url))
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed ({out.returncode}):\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    busy = _busy(machine_after) - _busy(machine_before)
    api_cpu, pg_cpu = cpu_used(api_before, api_after), cpu_used(pg_before, pg_after)
    run = LoadRun(label, clients, pool_size, result, api_cpu, pg_cpu, wall, busy)
    for name in ("timeline", "funnel"):
        r = run.route(name)
        say(
            f"(h) {label}: {name} {r['count']:,} ok, {r['errors']} errors, {r['per_second']:,.0f}/s, "
            f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
        )
    say(
        f"(h) {label}: CPU seconds over {wall:.0f} s: API {run.api_cpu_seconds:.1f}, "
        f"load generator {result['cpu_seconds']:.1f}, PostgreSQL {run.postgres_cpu_seconds:.1f}; "
        f"whole machine busy {busy:.1f} of {wall * psutil.cpu_count():.1f}"
    )
    return run


def _busy(t: Any) -> float:
    """Seconds the CPUs were not idle, summed over them (guest time is already counted in user time; time
    stolen by the hypervisor counts, as it was not available either)."""
    return float(sum(t) - t.idle - t.iowait - t.guest - t.guest_nice)


@dataclass(frozen=True)
class LoadPlan:
    label: str
    clients: int
    seconds: float
    warmup: float
    pool_size: int
    rate: float = 0.0
    """Total requests/s the clients offer together (by thinking between requests); 0 for a closed loop."""
    client: str = "raw"
    """How the load generator sends requests: ``raw`` (its own HTTP/1.1 over asyncio) or ``httpx``."""
    profile: bool = False
    """Serve this run from an API process running under cProfile (its figures are slower than the others)."""


@dataclass(frozen=True)
class ReadFigures:
    runs: list[LoadRun]
    profile: list[tuple[str, float]]
    """Share of the profiled API process's CPU time by package (idle waiting left out)."""


def measure_reads(url: str, store: StoreFigures, token: str, plans: list[LoadPlan], workdir: Path) -> ReadFigures:
    """Serve the API (a fresh process per pool size and profiling) and run each plan's load against it."""
    targets = workdir / "targets.json"
    targets.write_text(json.dumps({"cohorts": store.cohorts}))
    temporal = TemporalDevServer(None, headless=True, log_file=workdir / "temporal.log")
    runs: list[LoadRun] = []
    breakdown: list[tuple[str, float]] = []
    try:
        for pool_size, profiled in dict.fromkeys((p.pool_size, p.profile) for p in plans):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            stats = workdir / f"api-{pool_size}.prof" if profiled else None
            with api_process(url, temporal.address, port, pool_size, workdir / "api.log", stats) as api:
                how = " under cProfile" if profiled else ""
                say(f"(h) API serving at {base}{how} (one uvicorn worker, pool of {pool_size} connections)")
                for plan in (p for p in plans if (p.pool_size, p.profile) == (pool_size, profiled)):
                    run = run_load(
                        plan.label,
                        url,
                        api,
                        base,
                        token,
                        targets,
                        clients=plan.clients,
                        seconds=plan.seconds,
                        warmup=plan.warmup,
                        pool_size=pool_size,
                        rate=plan.rate,
                        client=plan.client,
                    )
                    runs.append(run)
            if stats is not None and stats.exists():
                breakdown = profile_breakdown(stats)
                say("(h) API CPU by package: " + ", ".join(f"{name} {share:.0%}" for name, share in breakdown[:8]))
    finally:
        temporal.stop()
    return ReadFigures(runs, breakdown)


IDLE = "'poll' of 'select.epoll'"
"""The event loop waiting for sockets: idle time, not work."""


def profile_breakdown(path: Path) -> list[tuple[str, float]]:
    """Own time of every function in a cProfile dump, summed by package, as shares of the busy time."""
    totals: dict[str, float] = {}
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, *_) in stats.items():
        if IDLE in function:
            continue
        if "site-packages/" in filename:
            key = filename.split("site-packages/")[1].split("/")[0]
        elif "/cohortflow/" in filename:
            key = "cohortflow." + filename.split("/cohortflow/")[1].split("/")[0].removesuffix(".py")
        elif "/lib/python3" in filename:
            key = "stdlib " + filename.split("/lib/python3")[1].split("/", 1)[1].split("/")[0].removesuffix(".py")
        else:
            key = _builtin_owner(function)
        totals[key] = totals.get(key, 0.0) + own
    busy = sum(totals.values()) or 1.0
    return sorted(((k, v / busy) for k, v in totals.items()), key=lambda kv: -kv[1])


def _builtin_owner(function: str) -> str:
    """Built-ins by what they belong to: socket sends, pydantic-core's validation and JSON, the rest."""
    if "_socket" in function:
        return "socket send/recv"
    if "pydantic_core" in function:
        return "pydantic-core"
    if "select.epoll" in function:
        return "stdlib selectors"
    return "other built-ins"


class _Server(uvicorn.Server):
    """Stops on SIGTERM and returns (uvicorn re-raises the signal after shutdown, which would skip the profile)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: object) -> None:
            self.should_exit = True

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reads serve")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--temporal-address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=Settings().api_pool_size)
    parser.add_argument("--profile", type=Path, help="run under cProfile and write the stats here on exit")
    args = parser.parse_args(argv)
    settings = Settings(api_pool_size=args.pool_size, log_level="warning")
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, args.database_url, temporal_address=args.temporal_address)
    # One worker, log level warning, as `cohortflow up` serves it; the access log off (at level warning it
    # writes nothing, but uvicorn still gathers its fields and calls it for every answer), and uvloop with
    # httptools named rather than left to uvicorn's automatic choice, so a missing package fails here
    # instead of slowing the figures.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    if args.profile is None:
        _Server(config).run()
    else:
        # Timed by the process's CPU clock: with the wall clock, the moments the process is not scheduled
        # (it has just written to a socket and PostgreSQL or the load generator runs) count as the own time
        # of whichever function was running, which made psycopg's sends look costly.
        with cProfile.Profile(time.process_time) as profile:
            _Server(config).run()
        profile.dump_stats(args.profile)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["serve"]:
        raise SystemExit("usage: python -m bench.reads serve ... (the benchmark itself is `python -m bench.admin_run`)")
    return serve(args[1:])


if __name__ == "__main__":
    sys.exit(main())
