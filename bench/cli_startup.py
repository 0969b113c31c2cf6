"""CLI start-up: whole `cohortflow` processes, as a person at a terminal waits for them.

.venv/bin/python -m bench.cli_startup [--runs 15] [--out docs/benchmarks-cli.md] [--against CHECKOUT]

Measures `cohortflow --help`, and an API command's own overhead: `cohortflow
programme list` against a port nothing listens on, so the process starts,
loads its client, fails to connect and exits, with no server time in the
figure. Each is run ``--runs`` times in turn, on the checkout in the current
directory (and on ``--against``'s); the report gives the median and the
fastest wall time and the median CPU time of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.progress import say

COHORTFLOW = [sys.executable, "-c", "from cohortflow.cli.main import app; app()"]
"""What the `cohortflow` console script runs, but on the checkout in the current directory rather than the one
the virtualenv was installed from."""


@dataclass(frozen=True)
class Startup:
    command: str
    checkout: str
    wall_median: float
    wall_min: float
    cpu_median: float


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _once(args: list[str], env: dict[str, str], checkout: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*COHORTFLOW, *args], env=env, cwd=checkout, capture_output=True, check=False, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(args: list[str], runs: int, env: dict[str, str], checkout: Path, label: str) -> Startup:
    _once(args, env, checkout)  # warm the file cache
    walls, cpus = zip(*(_once(args, env, checkout) for _ in range(runs)), strict=True)
    command = " ".join(["cohortflow", *args])
    return Startup(command, label, statistics.median(walls), min(walls), statistics.median(cpus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks-cli.md"))
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (e.g. a worktree of an earlier commit) measured in the same run, under the same load",
    )
    args = parser.parse_args(argv)
    env = {**os.environ, "COHORTFLOW_API_URL": f"http://127.0.0.1:{_closed_port()}", "COHORTFLOW_TOKEN": "x"}
    checkouts = [Path.cwd(), *([args.against] if args.against else [])]
    load = os.getloadavg()
    results = [
        measure(command, args.runs, env, checkout, _describe(checkout))
        for command in (["--help"], ["programme", "list"])
        for checkout in checkouts
    ]
    for r in results:
        say(
            f"{r.command} ({r.checkout}): median {r.wall_median:.3f} s (fastest {r.wall_min:.3f} s), "
            f"CPU {r.cpu_median:.3f} s"
        )
    rows = "\n".join(
        f"| `{r.command}` | {r.checkout} | {r.wall_median:.3f} s | {r.wall_min:.3f} s | {r.cpu_median:.3f} s |"
        for r in results
    )
    against = f" --against {args.against}" if args.against else ""
    args.out.write_text(
        f"""# CLI start-up

- measured by: `.venv/bin/python -m bench.cli_startup --runs {args.runs}{against}`
- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}
- load average (1/5/15 min) before: {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (the machine is shared)
- targets: `cohortflow --help` ≤ 0.3 s, an API command's own overhead ≤ 0.5 s

Whole processes, each run {args.runs} times. `programme list` is sent to a port
nothing listens on: the figure is the command's own overhead (start, load the
client, connect, report the refusal), with no server time in it. A second
checkout, when given, is measured in the same run, so both see the same load;
CPU time is the steadier figure on a busy machine.

| command | checkout | median wall | fastest wall | median CPU |
|---|---|---|---|---|
{rows}
""",
        encoding="utf-8",
    )
    say(f"wrote {args.out}")
    return 0


def _describe(checkout: Path) -> str:
    """The checkout's commit (its path if it is not a git checkout)."""
    found = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h"], capture_output=True, text=True, check=False
    )
    return f"commit {found.stdout.strip()}" if found.returncode == 0 else str(checkout)


if __name__ == "__main__":
    sys.exit(main())
