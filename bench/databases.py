"""Separate databases on the benchmark's one PostgreSQL server, one per part.

Each part starts from an empty, migrated database, so no part's figures depend
on what an earlier part left behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import libpq_url
from cohortflow.store.migrate import upgrade


@dataclass(frozen=True)
class ServerAddress:
    """Where a libpq client finds the server: a socket directory (or host name) and a port."""

    host: str
    port: int
    user: str
    password: str


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database ``name``."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(url: str, name: str, *, migrate: bool = True) -> str:
    """Create database ``name`` on the server of ``url`` (dropping an earlier one) and migrate it."""
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # names are the benchmark's own
        conn.execute(f'CREATE DATABASE "{name}"')
    target = with_database(url, name)
    if migrate:
        upgrade(target)
    return target


def server_address(url: str) -> ServerAddress:
    """Host (a Unix-socket directory for the embedded server), port and user of ``url``."""
    with psycopg.connect(libpq_url(url)) as conn:
        info = conn.info
        return ServerAddress(host=info.host, port=info.port, user=info.user, password=info.password or "")


def server_version(url: str) -> str:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"


@contextmanager
def scratch_store(prefix: str, name: str) -> Iterator[tuple[str, Path]]:
    """A migrated database ``name`` on an embedded PostgreSQL in a new temporary directory, and an empty
    ``uploads`` directory beside it; both are gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    uploads = workdir / "uploads"
    uploads.mkdir()
    pg = EmbeddedPostgres(workdir / "postgres", delete_on_stop=True)
    try:
        yield create_database(pg.url("postgres"), name), uploads
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
