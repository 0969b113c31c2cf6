"""Which stalls a filtered list of stalled cohorts holds: by step (the cohort's own or a child's) and by how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cohortflow.services.execution import Stall, StalledCohort, StallFilter

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def stalled(step: str, minutes: int) -> StalledCohort:
    since = NOW - timedelta(minutes=minutes)
    return StalledCohort(cohort_id="c", stall=Stall(step=step, attempt=3, reason="DiskFull", since=since))


def test_a_stall_is_held_by_its_step_or_a_child_s_and_by_how_long_it_has_lasted() -> None:
    own, child = stalled("record_cycle_event", 30), stalled("site-c-1: record_site_event", 5)
    assert StallFilter().holds(own, NOW) and StallFilter().holds(child, NOW)
    by_step = StallFilter(step="record_cycle_event")
    assert by_step.holds(own, NOW) and not by_step.holds(child, NOW)
    assert StallFilter(step="record_site_event").holds(child, NOW)
    assert not StallFilter(step="cycle_event").holds(own, NOW)
    long = StallFilter(at_least=timedelta(minutes=30))
    assert long.holds(own, NOW) and not long.holds(child, NOW)
    assert not StallFilter(step="record_cycle_event", at_least=timedelta(minutes=31)).holds(own, NOW)
