"""GET /api/v1/metrics: the service's state in Prometheus' text format.

Two kinds of series. What this API process counts as it answers (requests and
their latency by route and status, import durations: ``ServiceMetrics``), and
states read at each scrape: stalled cohorts asked of Temporal
(``services.execution``) rather than counted by a worker, since only the server
knows every cohort's pending steps, whichever worker ran them and across
restarts; the read models' lag behind the log; the reminder outbox's backlog.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.reminders.backlog import outbox_backlog
from cohortflow.services.execution import stalled_cohorts

router = APIRouter(tags=["service"])


@router.get("/api/v1/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request, _: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]) -> Response:
    """Requests, latency and import durations; stalled cohorts, read-model lag and the reminder outbox's backlog."""
    state = request.app.state
    registry = CollectorRegistry()
    stalled = await stalled_cohorts(state.temporal, state.store.pool)
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
    head = (await state.store.head()).position
    projected = await state.projector.checkpoint()
    Gauge("cohortflow_event_log_head_position", "Position of the last recorded event", registry=registry).set(head)
    Gauge(
        "cohortflow_read_model_lag_events",
        "Events recorded that the read models do not reflect yet (the head's position minus the projector's)",
        registry=registry,
    ).set(max(head - projected, 0))
    backlog = await outbox_backlog(state.store.pool)
    outbox = Gauge(
        "cohortflow_reminder_outbox_messages",
        "Reminder messages neither sent nor given up: all of them (waiting) and those whose time has come (due)",
        ["state"],
        registry=registry,
    )
    outbox.labels("waiting").set(backlog.waiting)
    outbox.labels("due").set(backlog.due)
    Gauge(
        "cohortflow_reminder_outbox_oldest_due_age_seconds",
        "How long ago the oldest due reminder message became due (0 when none is)",
        registry=registry,
    ).set(backlog.oldest_due_seconds)
    body = state.metrics.exposition() + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
