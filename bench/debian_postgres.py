"""A PostgreSQL server from the operating system's packages (Debian's ``postgresql``), started in a directory.

The scale-out benchmark runs the same code against a server that is not the
embedded wheel's: ``initdb`` and ``pg_ctl`` of the installed packages, a data
directory of its own, TCP on loopback. PostgreSQL refuses to run as root, so
when the benchmark is root the server runs as the packages' ``postgres`` user
(as the embedded wheel runs as a user of its own).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg

from cohortflow.runtime.temporal import free_port

INSTALL_HINT = (
    "Debian's PostgreSQL server is not installed: install it with `apt-get install postgresql` "
    "(the benchmark starts its own server from /usr/lib/postgresql/*/bin), or run with --postgres embedded"
)
SERVER_USER = "postgres"
"""The user the server runs as when the benchmark is root: the one Debian's package creates."""
DATABASE = "cohortflow"


class PostgresMissing(Exception):
    """The packaged server's binaries were not found; the message says how to install them."""


def find_bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are: ``pg_config --bindir``, else the newest Debian version."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    for bindir in candidates:
        if all((bindir / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresMissing(INSTALL_HINT)


def _as_server_user() -> tuple[Callable[[], None] | None, int | None]:
    """A ``preexec_fn`` that drops to the server's user when we are root, and that user's uid."""
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresMissing(f"running as root needs the `{SERVER_USER}` user; {INSTALL_HINT}") from None

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop, entry.pw_uid


class PackagedPostgres:
    """One server: ``initdb`` in ``data_dir`` (which must not exist yet), started by ``pg_ctl``, on a free port."""

    def __init__(self, data_dir: Path, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.data_dir = data_dir.resolve()
        self.port = free_port()
        self._drop, uid = _as_server_user()
        self.data_dir.mkdir(parents=True)
        if uid is not None:
            # The server's user must reach its directory: every parent searchable, the directory its own.
            for parent in self.data_dir.parents:
                if parent.stat().st_uid == 0 and parent != Path("/"):
                    parent.chmod(parent.stat().st_mode | 0o011)
            os.chown(self.data_dir, uid, -1)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=200"
        log = self.data_dir / "server.log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-o", options, "-w", "start")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / program), *args], capture_output=True, text=True, preexec_fn=self._drop, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:] or done.stdout[-2000:]}")

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ensure_database(self, database: str = DATABASE) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(f'CREATE DATABASE "{database}"')  # names are the benchmark's, never user input
        return self.url(database)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
