"""A load generator for the read routes, run as its own process: one JSON object on stdout.

.venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 --token cf_... --targets targets.json \
    [--clients 100] [--seconds 30] [--warmup 5] [--timeline-share 0.5] [--rate 0] [--seed 2023] [--client raw]

``targets.json`` is ``{"cohorts": [[cohort_id, candidates], ...]}``; participants are
``P000001`` … ``P{candidates}`` of each. Every client is a task with one keep-alive
connection of its own that sends a request, waits for the whole answer, then sends
the next, each time a participant timeline or a cohort funnel picked at random.
Without ``--rate`` there is no pause at all (a closed loop); with ``--rate R`` each
client thinks after every answer for an exponentially distributed pause of mean
``clients / R`` seconds, so that all together offer about R requests/s while the
answers are quick (and fewer when they are not, as people waiting for a screen do).

The generator shares the machine with the API it measures, so it is made cheap:
``--client raw`` (the default) speaks HTTP/1.1 itself over asyncio's transports on
uvloop, with the request's header bytes built once and a parser for just what
uvicorn sends (a status line, headers, a ``content-length`` or chunked body).
``--client httpx`` uses one ``httpx.AsyncClient`` per client instead, as earlier
versions did, at several times the CPU per request. Requests that finish during the
warm-up are not counted; the measured window is the ``--seconds`` after it. Latency
is from just before the request is written to the last byte of the answer, so it
includes any wait in this process's own loop.
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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

# httpcore asks ``import sniffio`` on every request; when sniffio is not installed (anyio 4 no longer
# needs it) each failed import searches sys.path again, which cost this process about a fifth of its CPU.
# A None entry makes the import fail at once, and httpcore then assumes asyncio, which is what runs.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

ROUTES = ("timeline", "funnel")
TIMEOUT = 60.0

Get = Callable[[str], Awaitable[tuple[int, int]]]
"""Sends a GET of a path and returns the answer's status and body size."""


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
    mean_think: float = 0.0
    """Mean pause after each answer before the next request (0: none, a closed loop)."""


class HttpError(Exception):
    """The connection failed or the answer could not be read."""


class _Answer(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: collects each answer's bytes and parses them.

    Only as much of HTTP as uvicorn's answers need: a status line, headers, and a body
    framed by ``content-length`` or chunked transfer encoding.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, int]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            answer = self._parse()
        except HttpError as exc:
            self.waiter.set_exception(exc)
            return
        if answer is not None:
            self.waiter.set_result(answer)

    def _parse(self) -> tuple[int, int] | None:
        """(status, body size) once the whole answer is in the buffer (which is then emptied), else None."""
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        if not head.startswith(b"http/1.1 "):
            raise HttpError(f"not an HTTP/1.1 answer: {head[:40]!r}")
        status = int(head[9:12])
        start = end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            size = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(buf) < start + size:
                return None
            del buf[: start + size]
        elif b"\r\ntransfer-encoding: chunked" in head:
            size, pos = 0, start
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                chunk = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if len(buf) < line_end + 2 + chunk + 2:
                    return None
                pos = line_end + 2 + chunk + 2
                size += chunk
                if chunk == 0:
                    break
            del buf[:pos]
        else:
            raise HttpError("an answer without content-length or chunked encoding")
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.transport.close()
        return status, size

    async def request(self, data: bytes) -> tuple[int, int]:
        if self.closed or self.transport is None:
            raise HttpError("connection closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, int]] = loop.create_future()
        self.waiter = waiter
        # A timer rather than asyncio.wait_for, which costs a good deal more per request.
        timer = loop.call_later(TIMEOUT, self._time_out, waiter)
        self.transport.write(data)
        try:
            return await waiter
        finally:
            timer.cancel()

    @staticmethod
    def _time_out(waiter: asyncio.Future[tuple[int, int]]) -> None:
        if not waiter.done():
            waiter.set_exception(HttpError(f"no answer within {TIMEOUT:.0f} s"))


class RawClient:
    """A client task's own connection, opened again when the server has closed it."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.tail = f" HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.conn: _Answer | None = None

    async def get(self, path: str) -> tuple[int, int]:
        if self.conn is None or self.conn.closed:
            loop = asyncio.get_running_loop()
            _, self.conn = await loop.create_connection(_Answer, self.host, self.port)
        try:
            return await self.conn.request(b"GET " + path.encode() + self.tail)
        except (HttpError, OSError, TimeoutError):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()
        self.conn = None


async def client_loop(get: Get, plan: Plan, rng: random.Random, tallies: dict[str, RouteTally]) -> None:
    errors_seen: list[str] = []
    while True:
        if plan.mean_think:
            pause = rng.expovariate(1 / plan.mean_think)
            if time.perf_counter() + pause >= plan.measure_until:
                return
            await asyncio.sleep(pause)
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
            code, size = await get(path)
            status = str(code)
        except (HttpError, httpx.HTTPError, OSError, TimeoutError) as exc:
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


def _httpx_get(http: httpx.AsyncClient) -> Get:
    async def get(path: str) -> tuple[int, int]:
        response = await http.get(path)
        return response.status_code, len(response.content)

    return get


async def run(args: argparse.Namespace) -> dict[str, Any]:
    targets = json.loads(Path(args.targets).read_text())
    cohorts = [(str(c), int(n)) for c, n in targets["cohorts"]]
    tallies = {route: RouteTally() for route in ROUTES}
    async with contextlib.AsyncExitStack() as stack:
        gets: list[Get] = []
        if args.client == "raw":
            url = urlsplit(args.url)
            raw = [RawClient(url.hostname or "127.0.0.1", url.port or 80, args.token) for _ in range(args.clients)]
            for client in raw:
                stack.callback(client.close)
            gets = [client.get for client in raw]
        else:
            headers = {"Authorization": f"Bearer {args.token}"}
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            for _ in range(args.clients):
                http = httpx.AsyncClient(
                    base_url=args.url, headers=headers, limits=one, timeout=TIMEOUT, trust_env=False
                )
                gets.append(_httpx_get(await stack.enter_async_context(http)))
        # The clock starts once the clients exist (an httpx client builds its TLS context, some 20 ms apiece).
        now = time.perf_counter()
        think = args.clients / args.rate if args.rate else 0.0
        plan = Plan(cohorts, args.timeline_share, now + args.warmup, now + args.warmup + args.seconds, think)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(
            *(client_loop(get, plan, random.Random(f"{args.seed}:{i}"), tallies) for i, get in enumerate(gets))
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
        "client": args.client,
        "seconds": window,
        "warmup": args.warmup,
        "timeline_share": args.timeline_share,
        "target_rate": args.rate,
        "mean_think_seconds": think,
        "routes": {route: tally.summary(window) for route, tally in tallies.items()},
        "all": every.summary(window),
        "cpu_seconds": cpu,
        "wall_seconds": args.warmup + window,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API's base URL (http only)")
    parser.add_argument("--token", required=True, help="a bearer token that may read cohorts")
    parser.add_argument("--targets", required=True, help='JSON file: {"cohorts": [[cohort_id, candidates], ...]}')
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--timeline-share", type=float, default=0.5, help="share of requests that are timelines")
    parser.add_argument("--seed", default="2023")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s the clients offer together, by thinking clients/rate seconds on average (0: closed loop)",
    )
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="how requests are sent")
    args = parser.parse_args(argv)
    result = _run_on_best_loop(run(args))
    print(json.dumps(result), flush=True)
    return 0


def _run_on_best_loop(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """uvloop when it is installed (it is wherever the API's server runs on it), else asyncio's own loop."""
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


if __name__ == "__main__":
    sys.exit(main())
