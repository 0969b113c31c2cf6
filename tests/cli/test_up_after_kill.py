"""`cohortflow up` after a hard kill: it comes up again on the same state, and stops all it started.

These run the real command in a subprocess, with its own state dir and free ports,
and look at the processes themselves: the Temporal dev server (its pid file) and
the embedded PostgreSQL (its ``postmaster.pid``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from cohortflow.runtime import stack as stack_module
from cohortflow.runtime.leftovers import postmaster, read_pid_file, stop_leftover_temporal, stop_postmaster
from cohortflow.runtime.stack import local_stack
from cohortflow.runtime.temporal import free_port
from cohortflow.settings import Settings

COHORTFLOW = str(Path(sys.executable).parent / "cohortflow")


class Up:
    """One state dir and one set of ports, for as many `up` runs as a test makes."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.temporal_port, self.ui_port, self.api_port = free_port(), free_port(), free_port()
        self.runs: list[subprocess.Popen[bytes]] = []

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
        env |= {
            "COHORTFLOW_STATE_DIR": str(self.state_dir),
            "COHORTFLOW_TEMPORAL_PORT": str(self.temporal_port),
            "COHORTFLOW_TEMPORAL_UI_PORT": str(self.ui_port),
            "COHORTFLOW_API_PORT": str(self.api_port),
            "COHORTFLOW_SMTP_HOST": "",
            "COHORTFLOW_WEBHOOK_URL": "",
        }
        return env

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.state_dir.parent / f"up-{len(self.runs)}.log", "wb")  # noqa: SIM115 - kept for failures
        run = subprocess.Popen(
            [COHORTFLOW, "up"], env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.runs.append(run)
        return run

    def wait_healthy(self, run: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert run.poll() is None, f"`up` exited with {run.returncode}:\n{self.output()}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the API did not answer within {timeout:.0f} s:\n{self.output()}")

    def server_pids(self) -> tuple[int, int]:
        temporal = read_pid_file(self.state_dir / "temporal.pid")
        pg = postmaster(self.state_dir / "postgres")
        assert temporal is not None and pg is not None
        return temporal, pg.pid

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in sorted(self.state_dir.parent.glob("up-*.log")))

    def clean_up(self) -> None:
        """Whatever a failed test left: the `up` runs first, then servers they would have stopped."""
        for run in self.runs:
            if run.poll() is None:
                run.kill()
                run.wait()
        stop_leftover_temporal(self.state_dir / "temporal.sqlite", [self.temporal_port, self.ui_port])
        stop_postmaster(self.state_dir / "postgres")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    runs = Up(tmp_path / "state")
    try:
        yield runs
    finally:
        runs.clean_up()


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_again_after_a_hard_kill_and_ctrl_c_stops_everything(up: Up) -> None:
    first = up.start()
    up.wait_healthy(first)
    first_temporal, first_postgres = up.server_pids()

    first.send_signal(signal.SIGKILL)
    first.wait()
    second = up.start()
    up.wait_healthy(second)
    temporal, pg = up.server_pids()
    assert gone(first_temporal)
    assert pg == first_postgres  # the detached PostgreSQL is adopted, not restarted

    second.send_signal(signal.SIGINT)
    assert second.wait(60) == 0, up.output()
    assert gone(temporal), "the Temporal dev server is still running"
    assert gone(pg), "PostgreSQL is still running"
    assert not any(accepts(port) for port in (up.temporal_port, up.ui_port, up.api_port))
    assert not (up.state_dir / "temporal.pid").exists()


def test_sigterm_stops_everything(up: Up) -> None:
    run = up.start()
    up.wait_healthy(run)
    temporal, pg = up.server_pids()

    run.send_signal(signal.SIGTERM)
    assert run.wait(60) == 0, up.output()
    assert gone(temporal) and gone(pg)


def test_a_port_held_by_another_program_is_refused_before_anything_starts(up: Up) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", up.api_port))
        foreign.listen()
        done = subprocess.run([COHORTFLOW, "up"], env=up.environment(), capture_output=True, text=True, timeout=60)

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {up.api_port}" in lines[0] and "COHORTFLOW_API_PORT" in lines[0]
    assert not (up.state_dir / "postgres").exists()
    assert not (up.state_dir / "temporal.sqlite").exists()


def test_a_second_up_on_the_same_state_dir_is_refused(up: Up) -> None:
    run = up.start()
    up.wait_healthy(run)
    temporal, _ = up.server_pids()

    done = subprocess.run([COHORTFLOW, "up"], env=up.environment(), capture_output=True, text=True, timeout=60)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "another `cohortflow up`" in done.stderr and "COHORTFLOW_STATE_DIR" in done.stderr
    assert not gone(temporal), "the running `up`'s server was taken for a leftover"
    up.wait_healthy(run)


class TemporalFailed(Exception):
    pass


@pytest.mark.parametrize("failure", [TemporalFailed, KeyboardInterrupt])
def test_a_start_failing_half_way_stops_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]
) -> None:
    """Temporal failing, or Ctrl-C while it starts, once PostgreSQL runs."""

    def failing_temporal(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(stack_module, "TemporalDevServer", failing_temporal)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    state_dir = tmp_path / "state"
    settings = Settings(state_dir=state_dir)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    started: list[int] = []
    monkeypatch.setattr(stack_module, "upgrade", lambda url: started.append(_postmaster_pid(state_dir)))
    try:
        with (
            pytest.raises(failure),
            local_stack(settings, state_dir, temporal_port=free_port(), ui_port=free_port()),
        ):
            pass
        assert started and gone(started[0]), "PostgreSQL is still running"
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    finally:
        stop_postmaster(state_dir / "postgres")


def _postmaster_pid(state_dir: Path) -> int:
    process = postmaster(state_dir / "postgres")
    assert process is not None
    return int(process.pid)
