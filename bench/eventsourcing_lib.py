"""(d) The `eventsourcing` library (9.5.6) on the same PostgreSQL, in its own database.

Configured the documented way: ``PERSISTENCE_MODULE=eventsourcing.postgres`` and
``POSTGRES_*`` settings (passed as the application's environment; the embedded
server is reached through its Unix-socket directory). An aggregate triggers ten
events per ``save()``, as in the design brief's reference figure, and every event
carries the same CandidateNominated payload as cohortflow's side.

Replay is measured two ways: reading the application's notification log in
order and decoding each event (the equivalent of ``EventStore.read_all``), and
reconstructing every aggregate through the repository.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.databases import create_database, server_address
from bench.events import nomination_data

EVENTS_PER_SAVE = 10
READ_PAGE = 10_000
DATABASE = "bench_eventsourcing"


class Roster(Aggregate):
    """A roster opened with its first nominee; each further nominee is one more event.

    Each event carries the nomination's payload whole, as cohortflow's does, so a field added to
    ``CandidateNominated`` needs no change here.
    """

    @event("FirstCandidateNominated")
    def __init__(self, nomination: dict[str, Any]) -> None:
        self.count = 1

    @event("CandidateNominated")
    def nominate(self, nomination: dict[str, Any]) -> None:
        self.count += 1


class RosterApplication(Application[UUID]):
    pass


@dataclass(frozen=True)
class LibraryThroughput:
    events: int
    saves: int
    append_seconds: float
    replay_seconds: float
    reconstruct_seconds: float

    @property
    def append_rate(self) -> float:
        return self.events / self.append_seconds

    @property
    def replay_rate(self) -> float:
        return self.events / self.replay_seconds

    @property
    def reconstruct_rate(self) -> float:
        return self.events / self.reconstruct_seconds


def library_env(database_url: str) -> dict[str, str]:
    address = server_address(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": DATABASE,
        "POSTGRES_HOST": address.host,
        "POSTGRES_PORT": str(address.port),
        "POSTGRES_USER": address.user,
        "POSTGRES_PASSWORD": address.password,
    }


def _run(env: dict[str, str], total: int, say: Callable[[str], None]) -> LibraryThroughput:
    app = RosterApplication(env=env)
    try:
        ids: list[UUID] = []
        append_seconds = 0.0
        for first in range(1, total + 1, EVENTS_PER_SAVE):
            payloads = [nomination_data(i) for i in range(first, min(first + EVENTS_PER_SAVE, total + 1))]
            started = time.perf_counter()
            roster = Roster(payloads[0])
            for payload in payloads[1:]:
                roster.nominate(payload)
            app.save(roster)
            append_seconds += time.perf_counter() - started
            ids.append(roster.id)
            if len(ids) % 1000 == 0:
                say(f"  eventsourcing: {first + len(payloads) - 1:,}/{total:,} events appended")

        started = time.perf_counter()
        replayed, start = 0, 1
        while True:
            page = app.recorder.select_notifications(start=start, limit=READ_PAGE)
            for notification in page:
                app.mapper.to_domain_event(notification)
            replayed += len(page)
            if len(page) < READ_PAGE:
                break
            start = page[-1].id + 1
        replay_seconds = time.perf_counter() - started
        if replayed != total:
            raise RuntimeError(f"the notification log returned {replayed} events, {total} were saved")

        started = time.perf_counter()
        rebuilt = sum(app.repository.get(aggregate_id).count for aggregate_id in ids)
        reconstruct_seconds = time.perf_counter() - started
        if rebuilt != total:
            raise RuntimeError(f"the repository rebuilt {rebuilt} nominations, {total} were saved")
        say(
            f"  eventsourcing: {total:,} events appended in {append_seconds:.2f} s, "
            f"replayed in {replay_seconds:.2f} s, aggregates rebuilt in {reconstruct_seconds:.2f} s"
        )
        return LibraryThroughput(total, len(ids), append_seconds, replay_seconds, reconstruct_seconds)
    finally:
        app.close()


async def bench_library(database_url: str, total: int, say: Callable[[str], None]) -> LibraryThroughput:
    """Append ``total`` events (ten per save) with the library, then read them back."""
    create_database(database_url, DATABASE, migrate=False)
    return await asyncio.to_thread(_run, library_env(database_url), total, say)
