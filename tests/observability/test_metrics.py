"""GET /api/v1/metrics against the real app: the series are there and move with what the service does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.reminders.conftest import LONG_AGO, outbox_message, queue
from tests.workflows.helpers import wait_for_status

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, headers: dict[str, str]) -> Samples:
    answer = await http.get("/api/v1/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_and_timed_by_route_template_and_status(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    before = await scrape(http, admin)
    for _ in range(3):
        assert (await http.get("/api/v1/programmes", headers=admin)).status_code == 200
    assert (await http.get("/api/v1/cohorts/nobody/status", headers=admin)).status_code == 404
    assert (await http.get("/api/v1/no/such/path")).status_code == 404
    assert (await http.request("BREW", "/api/v1/programmes")).status_code == 405
    after = await scrape(http, admin)

    listed = {"method": "GET", "route": "/api/v1/programmes", "status": "200"}
    assert (
        value(after, "cohortflow_http_requests_total", **listed)
        - value(before, "cohortflow_http_requests_total", **listed)
        == 3
    )
    assert value(after, "cohortflow_http_request_duration_seconds_count", **listed) == value(
        after, "cohortflow_http_requests_total", **listed
    )
    assert value(after, "cohortflow_http_request_duration_seconds_sum", **listed) > 0
    status = {"method": "GET", "route": "/api/v1/cohorts/{cohort_id}/status", "status": "404"}
    assert value(after, "cohortflow_http_requests_total", **status) == 1
    assert value(after, "cohortflow_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(after, "cohortflow_http_requests_total", method="other", route="/api/v1/programmes", status="405") == 1
    assert not any("nobody" in str(labels) or "no/such" in str(labels) or "BREW" in str(labels) for _, labels in after)
    scraped = {"method": "GET", "route": "/api/v1/metrics", "status": "200"}
    assert value(after, "cohortflow_http_requests_total", **scraped) == 1  # the first scrape; the second is counting


async def test_read_model_lag_is_the_events_not_yet_projected(
    http: httpx.AsyncClient, admin: dict[str, str], app: FastAPI
) -> None:
    assert value(await scrape(http, admin), "cohortflow_read_model_lag_events") == 0
    assert (await http.post("/api/v1/programmes", json=template(), headers=admin)).status_code == 201
    lagging = await scrape(http, admin)
    assert value(lagging, "cohortflow_read_model_lag_events") >= 1
    await app.state.projector.catch_up(wait=True)
    caught_up = await scrape(http, admin)
    assert value(caught_up, "cohortflow_read_model_lag_events") == 0
    assert value(caught_up, "cohortflow_event_log_head_position") == value(
        lagging, "cohortflow_event_log_head_position"
    )


async def test_the_outbox_backlog_and_the_age_of_its_oldest_due_message(
    http: httpx.AsyncClient, admin: dict[str, str], store: EventStore
) -> None:
    empty = await scrape(http, admin)
    assert value(empty, "cohortflow_reminder_outbox_messages", state="waiting") == 0
    assert value(empty, "cohortflow_reminder_outbox_oldest_due_age_seconds") == 0
    later = datetime.now(UTC) + timedelta(days=1)
    await queue(
        store, [outbox_message(1), outbox_message(2, due=LONG_AGO + timedelta(days=1)), outbox_message(3, due=later)]
    )
    queued = await scrape(http, admin)
    assert value(queued, "cohortflow_reminder_outbox_messages", state="waiting") == 3
    assert value(queued, "cohortflow_reminder_outbox_messages", state="due") == 2
    age = (datetime.now(UTC) - LONG_AGO).total_seconds()
    assert abs(value(queued, "cohortflow_reminder_outbox_oldest_due_age_seconds") - age) < 60


async def test_an_import_is_timed_by_kind(api: Api, time_skipping: WorkflowEnvironment) -> None:
    admin = api.as_("admin")
    await submit(api, template())
    started = await api.http.post(
        "/api/v1/cohorts", json={"cohort_id": "m1", "programme_id": PROGRAMME.id, "version": 1}, headers=admin
    )
    assert started.status_code == 201, started.text
    await wait_for_status(time_skipping.client, "cohort-m1", lambda s: s.phase == "nomination")
    before = await scrape(api.http, admin)
    applied = await upload(api, "m1", "nominees", nominee_csv(nominees(PROGRAMME, seed=3)))
    assert applied["status"] == "applied", applied
    after = await scrape(api.http, admin)
    timed = "cohortflow_import_duration_seconds"
    assert value(after, f"{timed}_count", kind="nominees") - value(before, f"{timed}_count", kind="nominees") == 1
    assert value(after, f"{timed}_sum", kind="nominees") > value(before, f"{timed}_sum", kind="nominees")
