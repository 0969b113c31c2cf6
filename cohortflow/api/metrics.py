"""GET /api/v1/metrics: the service's state in Prometheus' text format.

Stalled cohorts are asked of Temporal at each scrape (``services.execution``)
rather than counted by a worker: only the server knows every cohort's pending
steps, whichever worker ran them and across restarts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.services.execution import stalled_cohorts

router = APIRouter(tags=["service"])


@router.get("/api/v1/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]) -> Response:
    """Gauges for Prometheus: the stalled cohorts, and since when each has waited on its failing step."""
    registry = CollectorRegistry()
    stalled = await stalled_cohorts(request.app.state.temporal, request.app.state.store.pool)
    count = Gauge("cohortflow_stalled_cohorts", "Running cohorts whose next step keeps failing", registry=registry)
    count.set(len(stalled))
    # When, not how long: the time is Temporal's, and Prometheus takes the age as time() minus it.
    since = Gauge(
        "cohortflow_cohort_stalled_since_timestamp_seconds",
        "When a stalled cohort's failing step was first scheduled (Unix time)",
        ["cohort", "step"],
        registry=registry,
    )
    for cohort in stalled:
        since.labels(cohort.cohort_id, cohort.stall.step).set(cohort.stall.since.timestamp())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
