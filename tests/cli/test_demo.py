"""The README's demo command, as a newcomer runs it (smaller, for speed)."""

from __future__ import annotations

import json
import subprocess

from cohortflow.runtime.temporal import installed_binary


def test_demo_json_runs_a_whole_cycle_on_the_embedded_default() -> None:
    out = subprocess.run(
        [installed_binary("cohortflow"), "demo", "--json", "--candidates", "420", "--selected", "60"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["candidates"] == 420 and report["selected"] == 60
    assert 0 < report["completed"] <= 60
    assert report["chain_verified"] is True
    assert report["events"] == report["verified_events"] > 420 * 2
    assert len(report["head_digest"]) == 64
    assert report["wall_seconds"] > 0
    assert [p["counts"]["nominated"] for p in report["summary"]["prefectures"]].count(0) == 0
    # The sample programme's reminder rules fired: messages wait for a dispatcher, a few lack an address.
    assert report["reminders"]["pending"] > 0
    assert set(report["reminders"]) <= {"pending", "gave_up"}
