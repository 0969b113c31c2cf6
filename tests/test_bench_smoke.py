"""Every benchmark of `make bench` runs to its end at small sizes, so a change cannot break one unnoticed.

Figures are not checked here (benchmarks measure, tests do not time); only that
each program completes, succeeds and writes its report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def run(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_cycle_benchmarks_run_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    said = run("bench.run", "--quick", "--skip-50k", "--out", str(out))
    assert "(d) append" in said  # the eventsourcing comparison, the last part
    assert "## (d) The `eventsourcing` library on the same PostgreSQL" in out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_audit_benchmarks_run_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks-audit.md"
    run("bench.audit_run", "--events", "20000", "--out", str(out))
    assert out.read_text(encoding="utf-8").strip()


@pytest.mark.slow
def test_the_driver_benchmark_runs_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks-drivers.md"
    run("bench.drivers", "--events", "20000", "--rounds", "1", "--out", str(out))
    assert "| verify |" in out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_reminder_benchmark_delivers_everything(tmp_path: Path) -> None:
    said = run("bench.reminders", "--count", "200")
    assert "NOT ALL DELIVERED" not in said


@pytest.mark.slow
def test_the_administration_benchmarks_run_to_the_end(tmp_path: Path) -> None:
    out, summary = tmp_path / "benchmarks-admin.md", tmp_path / "benchmarks.md"
    summary.write_text("# Benchmarks\n", encoding="utf-8")
    run("bench.admin_run", "--quick", "--events", "20000", "--out", str(out), "--summary", str(summary))
    assert out.read_text(encoding="utf-8").strip()


@pytest.mark.slow
def test_the_cli_start_up_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks-cli.md"
    run("bench.cli_startup", "--runs", "1", "--out", str(out))
    assert "`cohortflow --help`" in out.read_text(encoding="utf-8")


def test_the_block_programme_benchmark_completes_both_examples(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks-blocks.md"
    run("bench.block_programmes", "--out", str(out))
    report = out.read_text(encoding="utf-8")
    assert "`leader-programme.yaml` | 200 people" in report and "`placement.yaml` | 20 people" in report
    assert "— **met**" in report and "BROKEN" not in report


def test_the_credit_bank_benchmark_imports_and_reads_at_a_small_size() -> None:
    said = run("bench.credit_bank", "--people", "300", "--entries", "3000")
    assert "county_people: 300" in said and "statement_p99_ms" in said


@pytest.mark.slow
def test_the_fault_run_kills_and_checks_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    args = ["--people", "100", "--kills", "3", "--outage", "0", "--day-seconds", "0.05", "--seed", "1"]
    run("bench.faults", *args, "--report", str(out))
    report = json.loads(out.read_text(encoding="utf-8"))
    assert len(report["faults"]) == 3 and all(check["ok"] for check in report["checks"])


@pytest.mark.slow
@pytest.mark.timeout(900)  # a cycle, the smallest store the reads fill (one 50,000-event cohort), two load runs
def test_the_scale_out_benchmark_spreads_a_cycle_over_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    args = ["--people", "300", "--postgres", "embedded", "--day-seconds", "0.05"]
    args += ["--events", "20000", "--clients", "10", "--seconds", "3"]
    run("bench.scale_out", *args, "--report", str(out))
    report = json.loads(out.read_text(encoding="utf-8"))
    per_worker = report["cycle"]["activities_per_worker"]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values())
    assert report["cycle"]["counters"]["candidates"] == 300 and all(check["ok"] for check in report["checks"])
    assert [r["api_processes"] for r in report["reads"]["runs"]] == [1, 2]
    assert all(r["all"]["count"] > 0 and r["all"]["errors"] == 0 for r in report["reads"]["runs"])


@pytest.mark.slow
def test_the_console_benchmark_runs(tmp_path: Path) -> None:
    said = run("bench.console", "--cohorts", "5", "--people", "1000", "--requests", "5")
    assert "search_p99_ms" in said
