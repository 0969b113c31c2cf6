"""Projection throughput from position zero over whole cohorts, with the reader alone for comparison.

Small by default so the suite stays quick; the figure reported for the projector comes from

    RM_BENCH_EVENTS=1000000 .venv/bin/pytest tests/readmodels/test_throughput.py -s
"""

from __future__ import annotations

import os
import time

import pytest

from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.readmodels.projector import Projector
from cohortflow.readmodels.queries import cohort_funnel
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from tests.conftest import fresh_database
from tests.readmodels import write_cohort

EVENTS = int(os.environ.get("RM_BENCH_EVENTS", "20000"))
EVENTS_PER_CANDIDATE = 5  # roughly, over a whole cycle with one in six selected


@pytest.mark.timeout(3600)
async def test_projection_throughput(postgres: EmbeddedPostgres) -> None:
    store = await EventStore.connect(fresh_database(postgres))
    try:
        candidates = max(140, min(50_000, EVENTS // EVENTS_PER_CANDIDATE))
        started = time.perf_counter()
        cohorts = 0
        while (await store.head()).position < EVENTS:
            await write_cohort(store, f"bench-{cohorts}", candidates=candidates, selected=candidates // 6, seed=cohorts)
            cohorts += 1
        total = (await store.head()).position
        written = time.perf_counter() - started
        print(f"\n{total:,} events in {cohorts} cohorts of {candidates:,} candidates written in {written:.1f} s")

        def progress(applied: int, position: int) -> None:
            if applied % 100_000 < 5_000:
                rate = applied / (time.perf_counter() - started)
                print(f"  {applied:,} events projected, {rate:,.0f} events/s", flush=True)

        started = time.perf_counter()
        read = sum([1 async for _ in store.read_all()])
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        applied = await Projector(store, on_batch=progress).rebuild()
        seconds = time.perf_counter() - started
        print(
            f"read_all alone: {read / read_seconds:,.0f} events/s; "
            f"projection from zero: {applied:,} events in {seconds:.1f} s = {applied / seconds:,.0f} events/s"
        )
        assert applied == read == total
        summary = await cohort_summary(store, "bench-0")
        funnel = await cohort_funnel(store.pool, "bench-0")
        assert funnel.totals.model_dump(exclude={"withdrawn"}) == summary.funnel
        assert applied / seconds > 2_000
    finally:
        await store.close()
