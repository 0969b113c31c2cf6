"""Reminder dispatch: N queued messages handed to a local SMTP server by the dispatcher, default settings.

The SMTP server (aiosmtpd, counting what it accepts) runs in a process of its
own, as a relay would. The messages are queued with ``enqueue`` (one
transaction, COPY), then one ``Dispatcher.run_once()`` drains the outbox: claims
in batches, sends over the default number of SMTP connections within the
default rate limit, and commits each message's ``sent`` with its ReminderSent
event. The figure is the wall time from the first claim until the server has
every message.

    .venv/bin/python -m bench.reminder_dispatch [--count 5000] [--database-url URL]

Without ``--database-url`` an embedded PostgreSQL is started in a temporary
directory. :func:`measure` is the reusable part (another benchmark may call it
with its own database and count).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.databases import create_database
from bench.progress import say
from cohortflow.logs import configure_logging
from cohortflow.reminders.dispatcher import Dispatcher
from cohortflow.reminders.outbox import OutboxMessage, enqueue, reminder_key
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

COHORT = "bench-reminders"


@dataclass(frozen=True)
class DispatchFigures:
    messages: int
    queue_seconds: float
    """Putting the messages into the outbox (enqueue, one transaction)."""
    dispatch_seconds: float
    """From the first claim until the SMTP server had accepted every message."""
    messages_per_second: float
    dispatcher_cpu_seconds: float
    """CPU time of the dispatching process (the database and the SMTP server run in others)."""
    sent: int
    """ReminderSent outcomes the dispatcher counted."""
    received: int
    """Messages the SMTP server accepted."""
    smtp_connections: int
    email_rate: float
    batch: int


class _Counter:
    """aiosmtpd handler: counts accepted messages."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def serve_sink() -> None:
    """The sink process: print the port, then answer every line on stdin with the count so far; stop at EOF."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    handler = _Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="sink.bench")
    controller.start()
    print(port, flush=True)
    for _ in sys.stdin:
        with handler.lock:
            print(handler.count, flush=True)
    controller.stop()


@dataclass(frozen=True)
class SmtpSink:
    host: str
    port: int
    _process: subprocess.Popen[str]

    @property
    def received(self) -> int:
        """Messages the server has accepted so far."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("?\n")
        self._process.stdin.flush()
        return int(self._process.stdout.readline())


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """A counting SMTP server on loopback, in a process of its own."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.reminder_dispatch", "--smtp-sink"],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip():
            raise RuntimeError("the SMTP sink did not start")
        yield SmtpSink("127.0.0.1", int(line), process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def messages(count: int, due: datetime) -> list[OutboxMessage]:
    """``count`` Chinese-language study-hour reminders, one per participant, no quiet hours."""
    occurrence = "online_study@2024-05-27-7d"
    return [
        OutboxMessage(
            reminder=reminder_key("hours-7d", f"P{i:06d}", occurrence),
            cohort_id=COHORT,
            stream_id=f"cohort-{COHORT}",
            rule="hours-7d",
            occurrence=occurrence,
            recipient=f"P{i:06d}",
            participant_id=f"P{i:06d}",
            channel="email",
            address=f"p{i:06d}@school.example",
            locale="zh",
            subject="线上研修学时提醒",
            body=f"P{i:06d} 老师您好：线上研修将于 5 月 27 日结束，您目前的学时为 {i % 120} 学时，"
            "尚未达到 140 学时的要求，请尽快完成。",
            time_zone="Asia/Shanghai",
            quiet_start=None,
            quiet_end=None,
            status="pending",
            last_error=None,
            next_attempt_at=due,
            actor="system:cohort-cycle",
            workflow_id=f"cohort-{COHORT}",
            programme_id="guopei-party-secretary",
            programme_version=1,
        )
        for i in range(count)
    ]


async def measure(database_url: str, count: int = 5_000, sink: SmtpSink | None = None) -> DispatchFigures:
    """Queue ``count`` messages in ``database_url`` and time their dispatch to ``sink`` (or a sink of our own)."""
    if sink is None:
        with smtp_sink() as own:
            return await measure(database_url, count, own)
    settings = Settings(database_url=database_url, smtp_host=sink.host, smtp_port=sink.port)
    store = await EventStore.connect(database_url, max_size=settings.smtp_connections + 2)
    try:
        batch = messages(count, datetime.now(UTC))
        started = time.perf_counter()
        async with store.pool.connection() as conn, conn.transaction():
            queued = await enqueue(conn, batch)
        queue_seconds = time.perf_counter() - started
        if queued != count:
            raise RuntimeError(f"{queued} of {count} messages queued: is the outbox not empty?")
        before = sink.received
        dispatcher = await Dispatcher.from_settings(store, settings)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            counts = await dispatcher.run_once()
            cpu = time.process_time() - cpu
            while sink.received - before < count and time.perf_counter() - started < 60:
                await asyncio.sleep(0.01)
            seconds = time.perf_counter() - started
        finally:
            await dispatcher.close()
        return DispatchFigures(
            messages=count,
            queue_seconds=queue_seconds,
            dispatch_seconds=seconds,
            messages_per_second=count / seconds,
            dispatcher_cpu_seconds=cpu,
            sent=counts.sent,
            received=sink.received - before,
            smtp_connections=settings.smtp_connections,
            email_rate=settings.email_rate,
            batch=settings.dispatch_batch,
        )
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminder_dispatch", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--database-url", help="an empty, migrated database (default: embedded, temporary)")
    parser.add_argument("--smtp-sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smtp_sink:
        serve_sink()
        return 0
    configure_logging("console", "warning")
    workdir: Path | None = None
    pg: EmbeddedPostgres | None = None
    try:
        url = args.database_url
        if url is None:
            workdir = Path(tempfile.mkdtemp(prefix="cohortflow-reminder-bench-"))
            pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
            url = create_database(pg.url("postgres"), "bench_reminders")
        say(f"queueing {args.count:,} reminders and dispatching them to a local SMTP server")
        figures = asyncio.run(measure(url, args.count))
    finally:
        if pg is not None:
            pg.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    for name, value in asdict(figures).items():
        print(f"{name:>20}: {value:,.2f}" if isinstance(value, float) else f"{name:>20}: {value:,}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{'load average':>20}: {load} (1, 5, 15 min; {os.cpu_count()} cores)")
    ok = figures.sent == figures.received == figures.messages
    print(
        f"{figures.messages:,} reminders handed to the SMTP server in {figures.dispatch_seconds:.2f} s"
        f" ({figures.messages_per_second:,.0f}/s; queued in {figures.queue_seconds:.2f} s)"
        + ("" if ok else " — NOT ALL DELIVERED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
