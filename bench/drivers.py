"""The event store's hot paths on psycopg and on asyncpg, side by side: which driver each path runs on, and why.

.venv/bin/python -m bench.drivers [--events N] [--rounds R] [--out docs/benchmarks-drivers.md]

Both drivers run the same Core statements (:class:`cohortflow.store.sql.Statement` compiled for each) on the same
rows of one database of one embedded PostgreSQL; the two sides of each path alternate round by round, so a busy
moment on the shared machine hits both alike, and each timed call starts after a garbage collection
(:mod:`bench.settle`).

- append with hashing: the store's own append (canonical JSON, SHA-256 chain, lock, checks), one piece of code
  over a wire (:mod:`cohortflow.store.wire`), through each driver's binary COPY;
- raw COPY: the same rows precomputed (the store's idempotency keys, dummy hashes), into a copy of the table, in
  each driver's binary format;
- read a stream, read everything from a position: pages of the store's statements, each event decoded into a
  ``StoredEvent`` as the store does;
- verification: pages of the whole log with the JSON as the text stored, each event rehashed
  (:class:`cohortflow.store.chain.Rehasher`).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from psycopg.types.string import TextLoader

from bench.append import raw_rows
from bench.databases import scratch_store
from bench.events import batches, nomination_events
from bench.machine import describe
from bench.progress import say
from bench.settle import start_clock
from cohortflow.store.chain import Rehasher
from cohortflow.store.eventstore import (
    ALL_AFTER,
    READ_BATCH,
    STREAM_PAGE,
    EventStore,
    append_events,
    libpq_url,
    stored_event,
)
from cohortflow.store.records import NewEvent
from cohortflow.store.sql import Statement
from cohortflow.store.wire import COPY_TYPES, EVENT_COLUMNS, Row, asyncpg_url

DRIVERS = ("psycopg", "asyncpg")
BATCH = 10_000
PSYCOPG_COPY = "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"


@dataclass
class HotPath:
    """One hot path: seconds and rows per driver, over every round."""

    name: str
    seconds: dict[str, list[float]] = field(default_factory=lambda: {d: [] for d in DRIVERS})
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DRIVERS, 0.0))
    """This process's CPU time: the client's share of the work, which the server's shares the cores with."""
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRIVERS, 0))

    def rate(self, driver: str) -> float:
        return self.rows[driver] / sum(self.seconds[driver])

    def cpu_per_row(self, driver: str) -> float:
        """Microseconds of client CPU per row."""
        return self.cpu_seconds[driver] / self.rows[driver] * 1e6

    @property
    def faster(self) -> str:
        return max(DRIVERS, key=self.rate)


class Sides:
    """A psycopg connection (JSON left as text, as asyncpg gives it) and an asyncpg one, on one database."""

    def __init__(self, psycopg_conn: psycopg.AsyncConnection[Any], asyncpg_conn: asyncpg.Connection) -> None:
        self.psycopg = psycopg_conn
        self.asyncpg = asyncpg_conn

    @classmethod
    async def open(cls, url: str) -> Sides:
        p = await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True)
        p.adapters.register_loader("json", TextLoader)
        return cls(p, await asyncpg.connect(asyncpg_url(libpq_url(url))))

    async def close(self) -> None:
        await self.psycopg.close()
        await self.asyncpg.close()

    async def fetch(self, driver: str, statement: Statement, **values: Any) -> list[Any]:
        if driver == "asyncpg":
            return list(await self.asyncpg.fetch(statement.numbered, *statement.positional(values)))
        cur = await self.psycopg.execute(statement.sql, statement.args(values))
        return await cur.fetchall()


async def timed(path: HotPath, driver: str, work: Awaitable[int]) -> None:
    """Run ``work`` (it says how many rows it handled) and count it to ``path`` for ``driver``."""
    started, cpu = start_clock(), time.process_time()
    rows = await work
    path.seconds[driver].append(time.perf_counter() - started)
    path.cpu_seconds[driver] += time.process_time() - cpu
    path.rows[driver] += rows


class AsyncpgWire:
    """The store's append on an asyncpg connection: statements prepared once per connection, asyncpg's binary COPY
    (``copy_records_to_table``, which takes the rows as they are made)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def rows(self, statement: Statement, /, **values: Any) -> Sequence[Row]:
        return await self._conn.fetch(statement.numbered, *statement.positional(values))

    async def copy_events(self, rows: AsyncIterable[tuple[Any, ...]]) -> None:
        await self._conn.copy_records_to_table("events", records=rows, columns=EVENT_COLUMNS)


async def _append(store: EventStore, sides: Sides, driver: str, first: int, events: list[NewEvent]) -> int:
    """The store's append of ``events`` (as :meth:`EventStore.append` makes it) through ``driver``."""
    stream, key = f"drivers-{driver}", f"drivers/{driver}/{first}"
    if driver == "asyncpg":
        async with sides.asyncpg.transaction():
            result = await append_events(
                AsyncpgWire(sides.asyncpg),
                stream,
                events,
                idempotency_key=key,
                expected_version=None,
                on_progress=None,
                count=None,
            )
    else:
        async with store.pool.connection() as conn, conn.transaction():
            result = await store.append_in(conn, stream, events, idempotency_key=key)
    store.grew(result.count)  # as the store's own append does
    return result.count


async def _raw_copy(sides: Sides, driver: str, rows: list[tuple[Any, ...]]) -> int:
    table = f"events_raw_{driver}"
    if driver == "asyncpg":
        async with sides.asyncpg.transaction():
            await sides.asyncpg.copy_records_to_table(table, records=rows, columns=EVENT_COLUMNS)
        return len(rows)
    sql = PSYCOPG_COPY.format(table=table, columns=", ".join(EVENT_COLUMNS))
    async with sides.psycopg.transaction(), sides.psycopg.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(list(COPY_TYPES))
        for row in rows:
            await copy.write_row(row)
    return len(rows)


async def _pages(
    sides: Sides, driver: str, statement: Statement, key_column: int, **values: Any
) -> AsyncIterator[list[Any]]:
    """``statement``'s rows a page at a time (``after``, ``limit``), as the store pages them."""
    after = 0
    while True:
        rows = await sides.fetch(driver, statement, **values, after=after, limit=READ_BATCH)
        yield rows
        if len(rows) < READ_BATCH:
            return
        after = rows[-1][key_column]


async def _read(sides: Sides, driver: str, statement: Statement, key_column: int, **values: Any) -> int:
    """Every row of ``statement`` decoded into a ``StoredEvent``, as the store's reads do."""
    read = 0
    async for rows in _pages(sides, driver, statement, key_column, **values):
        for row in rows:
            stored_event(row)
        read += len(rows)
    return read


async def _verify(sides: Sides, driver: str) -> int:
    read, rehasher = 0, Rehasher(1)
    async for rows in _pages(sides, driver, ALL_AFTER, 0):
        for row in rows:
            if not rehasher.matches(row):
                raise RuntimeError(f"event {row[0]} does not match its hash")
        read += len(rows)
    return read


async def measure(url: str, events: int, rounds: int) -> list[HotPath]:
    store = await EventStore.connect(url)
    sides = await Sides.open(url)
    append, raw = HotPath("append with hashing (the store's own)"), HotPath("raw COPY of the same rows")
    stream, everything, verify = HotPath("read a stream"), HotPath("read everything from a position"), HotPath("verify")
    try:
        for driver in DRIVERS:
            await sides.asyncpg.execute(f"CREATE TABLE events_raw_{driver} (LIKE events INCLUDING ALL)")
        for n, (first, count) in enumerate(batches(events, BATCH)):
            batch = nomination_events(first, count)  # made before the clocks start, as the raw rows are
            rows = raw_rows(batch, first, "drivers-rawcopy", f"drivers/rawcopy/{first}")
            for driver in DRIVERS if n % 2 == 0 else reversed(DRIVERS):
                await timed(append, driver, _append(store, sides, driver, first, batch))
                await timed(raw, driver, _raw_copy(sides, driver, rows))
            if n % 5 == 4:
                say(f"  appended {first + count - 1:,}/{events:,} events with each driver")
        await store.measured()
        await sides.asyncpg.execute("VACUUM ANALYZE events")
        for r in range(rounds):
            for driver in DRIVERS if r % 2 == 0 else reversed(DRIVERS):
                await timed(stream, driver, _read(sides, driver, STREAM_PAGE, 2, stream="drivers-asyncpg"))
                await timed(everything, driver, _read(sides, driver, ALL_AFTER, 0))
                await timed(verify, driver, _verify(sides, driver))
            say(f"  read round {r + 1}/{rounds} done")
        return [append, raw, stream, everything, verify]
    finally:
        await sides.close()
        await store.close()


def render(paths: list[HotPath], events: int, rounds: int, command: str, machine: str) -> str:
    def rate(path: HotPath, driver: str) -> str:
        return f"{path.rate(driver):,.0f}"

    rows = [
        f"| {p.name} | {rate(p, 'psycopg')} | {rate(p, 'asyncpg')} | "
        f"{p.rate('asyncpg') / p.rate('psycopg'):.2f}× | {p.faster} | "
        f"{p.cpu_per_row('psycopg'):.1f} | {p.cpu_per_row('asyncpg'):.1f} |"
        for p in paths
    ]
    spread = [
        f"{p.name}: {driver} {statistics.pstdev(p.seconds[driver]) / statistics.mean(p.seconds[driver]):.0%}"
        for p in paths
        for driver in DRIVERS
        if len(p.seconds[driver]) > 1
    ]
    return "\n".join(
        [
            "# The event store's drivers, side by side",
            "",
            "Generated by `bench/drivers.py` (`make bench` runs it). The store's hot paths on psycopg and on",
            "asyncpg: the same Core statements, the same rows, one database, the two sides alternating, so the",
            "figures compare as ratios within the run. Rows per second; more is better.",
            "",
            f"- command: `{command}`",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine}",
            f"- {events:,} events appended with each driver in batches of {BATCH:,}; reads over all"
            f" {2 * events:,} events (a stream: {events:,}), {rounds} rounds each",
            "",
            "| path | psycopg rows/s | asyncpg rows/s | asyncpg ÷ psycopg | faster | client CPU µs/row, psycopg |"
            " client CPU µs/row, asyncpg |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "The store runs each path on the driver that was faster for it when this was decided"
            " (`cohortflow/store/wire.py`): appends on psycopg (binary COPY), every read of events on asyncpg."
            " The two append sides run the same code, the store's own, over each driver's wire. asyncpg spends less"
            " client CPU on a COPY (its rows are encoded in C), but sends it in half-megabyte messages, so the"
            " server waits for the first and works on the last after the client is done; psycopg sends every few"
            " dozen rows, and the two overlap throughout.",
            "",
            "Spread between rounds (standard deviation ÷ mean of a round's seconds): " + "; ".join(spread) + ".",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drivers", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events appended with each driver")
    parser.add_argument("--rounds", type=int, default=3, help="times each read is repeated per driver")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks-drivers.md"))
    args = parser.parse_args(argv)
    with scratch_store("cohortflow-drivers-bench-", "bench_drivers") as (url, _):
        say(f"drivers: {args.events:,} events each, {args.rounds} read rounds")
        paths = asyncio.run(measure(url, args.events, args.rounds))
        for p in paths:
            say(
                f"  {p.name}: psycopg {p.rate('psycopg'):,.0f}, asyncpg {p.rate('asyncpg'):,.0f} rows/s; client CPU"
                f" {p.cpu_per_row('psycopg'):.1f} and {p.cpu_per_row('asyncpg'):.1f} µs/row"
            )
        machine = describe(url).line
    command = shlex.join([".venv/bin/python", "-m", "bench.drivers", *(argv or sys.argv[1:])])
    args.out.write_text(render(paths, args.events, args.rounds, command, machine), encoding="utf-8")
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
