"""The whole service stack on one machine: PostgreSQL, Temporal, migrations.

Each part is embedded unless configured: ``DATABASE_URL`` replaces the embedded
PostgreSQL and ``TEMPORAL_ADDRESS`` the Temporal dev server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.runtime.temporal import TemporalDevServer
from cohortflow.settings import Settings
from cohortflow.store.migrate import upgrade

log = structlog.get_logger()


@dataclass(frozen=True)
class Stack:
    database_url: str
    temporal_address: str
    temporal_ui: str | None


@contextmanager
def local_database(settings: Settings, state_dir: Path) -> Iterator[str]:
    """``DATABASE_URL``, or an embedded PostgreSQL with its data in ``state_dir/postgres``; migrated either way."""
    postgres: EmbeddedPostgres | None = None
    try:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(state_dir.resolve() / "postgres")
            database_url = postgres.ensure_database()
            log.info("embedded PostgreSQL running", data=str(state_dir / "postgres"))
        upgrade(database_url)
        yield database_url
    finally:
        if postgres is not None:
            postgres.stop()


@contextmanager
def local_stack(
    settings: Settings,
    state_dir: Path,
    *,
    temporal_port: int | None = None,
    ui_port: int | None = None,
    headless: bool = False,
) -> Iterator[Stack]:
    temporal: TemporalDevServer | None = None
    with local_database(settings, state_dir) as database_url:
        try:
            address, ui = settings.temporal_address, None
            if address is None:
                temporal = TemporalDevServer(
                    state_dir / "temporal.sqlite",
                    port=temporal_port,
                    ui_port=ui_port,
                    headless=headless,
                    log_file=state_dir / "temporal.log",
                )
                address, ui = temporal.address, None if headless else temporal.ui_url
                log.info("Temporal dev server running", address=address, ui=ui)
            yield Stack(database_url, address, ui)
        finally:
            if temporal is not None:
                temporal.stop()
