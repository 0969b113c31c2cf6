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

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.databases import create_database, server_address
from bench.events import nomination_data
from bench.settle import settle_garbage, start_clock

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


class LibrarySide:
    """The library's side of the comparison (bench.library_compare): events appended ten per save, the
    notification log replayed, every aggregate rebuilt; each call timed. Blocking calls, as the library's are."""

    def __init__(self, database_url: str) -> None:
        create_database(database_url, DATABASE, migrate=False)
        self._app = RosterApplication(env=library_env(database_url))
        self._ids: list[UUID] = []

    def append(self, first: int, count: int) -> float:
        """Save events ``first`` .. ``first + count - 1``, a new aggregate for every ten."""
        seconds = 0.0
        settle_garbage()
        for start in range(first, first + count, EVENTS_PER_SAVE):
            payloads = [nomination_data(i) for i in range(start, min(start + EVENTS_PER_SAVE, first + count))]
            started = time.perf_counter()
            roster = Roster(payloads[0])
            for payload in payloads[1:]:
                roster.nominate(payload)
            self._app.save(roster)
            seconds += time.perf_counter() - started
            self._ids.append(roster.id)
        return seconds

    @property
    def saves(self) -> int:
        return len(self._ids)

    def replay(self, expected: int) -> float:
        """Read the notification log in order, decoding every event (the equivalent of EventStore.read_all)."""
        started = start_clock()
        replayed, start = 0, 1
        while True:
            page = self._app.recorder.select_notifications(start=start, limit=READ_PAGE)
            for notification in page:
                self._app.mapper.to_domain_event(notification)
            replayed += len(page)
            if len(page) < READ_PAGE:
                break
            start = page[-1].id + 1
        seconds = time.perf_counter() - started
        if replayed != expected:
            raise RuntimeError(f"the notification log returned {replayed} events, {expected} were saved")
        return seconds

    def reconstruct(self, expected: int) -> float:
        """Rebuild every aggregate through the repository."""
        started = start_clock()
        rebuilt = sum(self._app.repository.get(aggregate_id).count for aggregate_id in self._ids)
        seconds = time.perf_counter() - started
        if rebuilt != expected:
            raise RuntimeError(f"the repository rebuilt {rebuilt} nominations, {expected} were saved")
        return seconds

    def close(self) -> None:
        self._app.close()
