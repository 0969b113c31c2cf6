"""GET /api/v1/metrics: the service's state in Prometheus' text format.

Stalled cohorts are asked of Temporal at each scrape (``services.execution``)
rather than counted by a worker: only the server knows every cohort's pending
steps, whichever worker ran them and across restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.services.execution import stalled_cohorts

router = APIRouter(tags=["service"])


@router.get("/api/v1/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]) -> Response:
    """Gauges for Prometheus: the stalled cohorts, and how long each has waited on its failing step."""
    registry = CollectorRegistry()
    stalled = await stalled_cohorts(request.app.state.temporal, request.app.state.store.pool)
    count = Gauge("cohortflow_stalled_cohorts", "Running cohorts whose next step keeps failing", registry=registry)
    count.set(len(stalled))
    waited = Gauge(
        "cohortflow_cohort_stalled_seconds",
        "How long a stalled cohort has waited on its failing step",
        ["cohort", "step"],
        registry=registry,
    )
    now = datetime.now(UTC)
    for cohort in stalled:
        waited.labels(cohort.cohort_id, cohort.stall.step).set((now - cohort.stall.since).total_seconds())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
