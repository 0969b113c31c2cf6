"""What the benchmark ran on: the figures mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

from bench.databases import server_version
from cohortflow.runtime.temporal import installed_binary


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_bytes: int
    cpu_model: str
    python: str
    postgres: str
    temporal_cli: str
    temporalio: str
    eventsourcing: str
    kernel: str
    code: str
    """The commit measured, and whether the package had uncommitted changes."""

    @property
    def line(self) -> str:
        """The machine and the code measured, as a report's ``machine:`` line gives them."""
        return (
            f"{self.cpus} CPUs ({self.cpu_model}), {self.memory_bytes / 2**30:.1f} GiB, PostgreSQL {self.postgres},"
            f" code {self.code}"
        )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def temporal_cli_version() -> str:
    try:
        out = subprocess.run(
            [installed_binary("temporal"), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.strip() or "unknown"
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return "unknown"


def code_version() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "cohortflow")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}" + (" with uncommitted changes in cohortflow/" if dirty else "")


def describe(database_url: str) -> Machine:
    return Machine(
        cpus=len(os.sched_getaffinity(0)),
        memory_bytes=int(psutil.virtual_memory().total),
        cpu_model=cpu_model(),
        python=platform.python_version(),
        postgres=server_version(database_url),
        temporal_cli=temporal_cli_version(),
        temporalio=version("temporalio"),
        eventsourcing=version("eventsourcing"),
        kernel=platform.release(),
        code=code_version(),
    )
