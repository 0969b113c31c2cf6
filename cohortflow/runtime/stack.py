"""The whole service stack on one machine: PostgreSQL, Temporal, migrations.

Each part is embedded unless configured: ``DATABASE_URL`` replaces the embedded
PostgreSQL and ``TEMPORAL_ADDRESS`` the Temporal dev server.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from cohortflow.runtime.leftovers import Port, refuse_taken_ports, state_dir_lock, stop_leftover_temporal
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
    also_needs: Sequence[Port] = (),
) -> Iterator[Stack]:
    """The stack, after what a killed earlier run left on ``state_dir`` is dealt with.

    Refuses (:class:`~cohortflow.runtime.leftovers.StartRefused`) before starting
    anything when another `up` holds ``state_dir`` or a port it needs (``also_needs``
    adds the caller's own, such as the API's) is taken by another program.
    """
    with ExitStack() as teardown:
        teardown.enter_context(_signals_stop_everything())
        teardown.enter_context(state_dir_lock(state_dir))
        try:
            yield teardown.enter_context(_started(settings, state_dir, temporal_port, ui_port, headless, also_needs))
        finally:
            _shield_teardown()


@contextmanager
def _started(
    settings: Settings,
    state_dir: Path,
    temporal_port: int | None,
    ui_port: int | None,
    headless: bool,
    also_needs: Sequence[Port],
) -> Iterator[Stack]:
    temporal_ports: list[Port] = []
    if settings.temporal_address is None:
        temporal_ports = _temporal_ports(temporal_port, ui_port, headless)
        stopped = stop_leftover_temporal(state_dir / "temporal.sqlite", [p.number for p in temporal_ports])
        if stopped:
            log.info("stopped a Temporal dev server left by an earlier run", pids=stopped)
    refuse_taken_ports([*temporal_ports, *also_needs])
    with ExitStack() as running:
        database_url = running.enter_context(local_database(settings, state_dir))
        address, ui = settings.temporal_address, None
        if address is None:
            temporal = TemporalDevServer(
                state_dir / "temporal.sqlite",
                port=temporal_port,
                ui_port=ui_port,
                headless=headless,
                log_file=state_dir / "temporal.log",
            )
            running.callback(temporal.stop)
            address, ui = temporal.address, None if headless else temporal.ui_url
            log.info("Temporal dev server running", address=address, ui=ui)
        yield Stack(database_url, address, ui)


def _temporal_ports(port: int | None, ui_port: int | None, headless: bool) -> list[Port]:
    """The dev server's fixed ports (the ones left to it are free by construction)."""
    ports = [] if port is None else [Port("127.0.0.1", port, "COHORTFLOW_TEMPORAL_PORT")]
    if ui_port is not None and not headless:
        ports.append(Port("127.0.0.1", ui_port, "COHORTFLOW_TEMPORAL_UI_PORT"))
    return ports


@contextmanager
def _signals_stop_everything() -> Iterator[None]:
    """SIGTERM stops the stack as Ctrl-C does; both handlers are restored at the end.

    Python's default for SIGTERM ends the process without running any cleanup,
    which would leave the servers running. Signals can only be handled in the
    main thread; elsewhere the caller's handlers stay as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT), signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        for sig, handler in zip((signal.SIGINT, signal.SIGTERM), previous, strict=True):
            if handler is not None:  # None: set outside Python, nothing to put back
                signal.signal(sig, handler)


def _shield_teardown() -> None:
    """From here on Ctrl-C and SIGTERM no longer interrupt: what was started is being stopped.

    A second Ctrl-C would otherwise abandon whatever had not stopped yet, and the
    service's event loop, when it closed, already put SIGTERM back to its default.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _already_stopping)
        signal.signal(signal.SIGTERM, _already_stopping)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    log.warning("already stopping; the servers are shutting down")
