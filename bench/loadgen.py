"""A load generator for the read routes, run as its own process: one JSON object on stdout.

.venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 --token cf_... --targets targets.json \
    [--clients 100] [--seconds 30] [--warmup 5] [--timeline-share 0.5] [--rate 0] [--seed 2023]

``targets.json`` is ``{"cohorts": [[cohort_id, candidates], ...]}``; participants are
``P000001`` … ``P{candidates}`` of each. Every client is a task that sends one
request, waits for the whole answer, then sends the next (a closed loop, no think
time), each time a participant timeline or a cohort funnel picked at random; with
``--rate`` each client instead starts requests at random (Poisson) times so that
all together offer that many per second, as people at their desks would. Each
client has its own ``httpx.AsyncClient`` with one keep-alive connection, so there
are as many connections as clients (``--shared-client``: one client whose pool
admits them all, which costs far more CPU in httpcore's pool).
Requests that finish during the warm-up are not counted; the measured window is
the ``--seconds`` after it. Latency is from just before the request is sent to
the last byte of the answer, so it includes any wait in this process's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# httpcore asks ``import sniffio`` on every request; when sniffio is not installed (anyio 4 no longer
# needs it) each failed import searches sys.path again, which cost this process about a fifth of its CPU.
# A None entry makes the import fail at once, and httpcore then assumes asyncio, which is what runs.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

ROUTES = ("timeline", "funnel")


@dataclass
class RouteTally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    last_finish: float = 0.0

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "count": len(ordered),
            "errors": self.errors,
            "statuses": self.statuses,
            "per_second": len(ordered) / seconds if seconds else 0.0,
            "mean_bytes": self.bytes / len(ordered) if ordered else 0.0,
            "mean_ms": sum(ordered) / len(ordered) if ordered else 0.0,
            "p50_ms": percentile(ordered, 50),
            "p95_ms": percentile(ordered, 95),
            "p99_ms": percentile(ordered, 99),
            "max_ms": ordered[-1] if ordered else 0.0,
        }


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Plan:
    cohorts: list[tuple[str, int]]
    timeline_share: float
    measure_from: float
    measure_until: float
    mean_gap: float = 0.0
    """With a target rate: the mean time between one client's request starts (0: no pause at all)."""


async def client_loop(http: httpx.AsyncClient, plan: Plan, rng: random.Random, tallies: dict[str, RouteTally]) -> None:
    errors_seen: list[str] = []
    next_at = time.perf_counter()
    while True:
        if plan.mean_gap:
            # Poisson starts per client; a client that falls behind starts at once, without catching up.
            next_at = max(next_at + rng.expovariate(1 / plan.mean_gap), time.perf_counter())
            if next_at >= plan.measure_until:
                return
            await asyncio.sleep(next_at - time.perf_counter())
        cohort_id, candidates = rng.choice(plan.cohorts)
        if rng.random() < plan.timeline_share:
            route = "timeline"
            path = f"/api/v1/cohorts/{cohort_id}/participants/P{rng.randint(1, candidates):06d}/timeline"
        else:
            route = "funnel"
            path = f"/api/v1/cohorts/{cohort_id}/funnel"
        started = time.perf_counter()
        if started >= plan.measure_until:
            return
        status, size = "exception", 0
        try:
            response = await http.get(path)
            size = len(response.content)
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            if len(errors_seen) < 3:
                errors_seen.append(repr(exc))
                print(f"loadgen: {route} {path}: {exc!r}", file=sys.stderr)
        finished = time.perf_counter()
        if finished < plan.measure_from:
            continue  # warm-up
        tally = tallies[route]
        tally.last_finish = max(tally.last_finish, finished)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status == "200":
            tally.latencies_ms.append((finished - started) * 1000)
            tally.bytes += size
        else:
            tally.errors += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    targets = json.loads(Path(args.targets).read_text())
    cohorts = [(str(c), int(n)) for c, n in targets["cohorts"]]
    headers = {"Authorization": f"Bearer {args.token}"}
    tallies = {route: RouteTally() for route in ROUTES}
    async with contextlib.AsyncExitStack() as stack:
        if args.shared_client:
            limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
            shared = httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits, timeout=60.0)
            clients = [await stack.enter_async_context(shared)] * args.clients
        else:
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=args.url, headers=headers, limits=one, timeout=60.0, trust_env=False)
                )
                for _ in range(args.clients)
            ]
        # The clock starts once the clients exist (each builds its TLS context, some 20 ms apiece).
        now = time.perf_counter()
        gap = args.clients / args.rate if args.rate else 0.0
        plan = Plan(cohorts, args.timeline_share, now + args.warmup, now + args.warmup + args.seconds, gap)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(
            *(client_loop(http, plan, random.Random(f"{args.seed}:{i}"), tallies) for i, http in enumerate(clients))
        )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    # Clients stop starting requests at the end of the window; those in flight then finish and count.
    window = max(args.seconds, max(t.last_finish for t in tallies.values()) - plan.measure_from)
    every = RouteTally()
    for tally in tallies.values():
        every.latencies_ms += tally.latencies_ms
        every.errors += tally.errors
        every.bytes += tally.bytes
        for status, n in tally.statuses.items():
            every.statuses[status] = every.statuses.get(status, 0) + n
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "clients": args.clients,
        "seconds": window,
        "warmup": args.warmup,
        "timeline_share": args.timeline_share,
        "target_rate": args.rate,
        "routes": {route: tally.summary(window) for route, tally in tallies.items()},
        "all": every.summary(window),
        "cpu_seconds": cpu,
        "wall_seconds": args.warmup + window,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API's base URL")
    parser.add_argument("--token", required=True, help="a bearer token that may read cohorts")
    parser.add_argument("--targets", required=True, help='JSON file: {"cohorts": [[cohort_id, candidates], ...]}')
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--timeline-share", type=float, default=0.5, help="share of requests that are timelines")
    parser.add_argument("--seed", default="2023")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="total requests/s to offer, spread over the clients (0: closed loop)"
    )
    parser.add_argument("--shared-client", action="store_true", help="one AsyncClient with a pool for all clients")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
