"""With tracing on, one API command is one trace: the request's span, the workflow's and its activities'."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.observability.tracing import configured_provider, temporal_interceptors
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME
from tests.api.test_admin_api import template
from tests.workflows.helpers import running_worker, terminate_cohorts


async def test_a_command_is_one_trace_from_the_api_to_the_workflow_and_its_activities(
    database_url: str, store: EventStore, time_skipping: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    config = time_skipping.client.config()  # the same connection, with the interceptors a traced process has
    config["interceptors"] = temporal_interceptors(provider)
    traced = Client(**config)
    settings = Settings(task_queue=task_queue, state_dir=tmp_path)
    app = create_app(settings, database_url, temporal=traced, tracer_provider=provider)
    admin = await issue_token(store.pool, name="admin-1", role="admin", prefecture=None, issued_by="tests")
    headers = {"Authorization": f"Bearer {admin.secret}"}
    async with running_worker(traced, store, task_queue, settings.uploads), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            assert (await http.post("/api/v1/programmes", json=template(), headers=headers)).status_code == 201
            exported.clear()
            cohort = {"cohort_id": "traced", "programme_id": PROGRAMME.id, "version": 1}
            started = await http.post("/api/v1/cohorts", json=cohort, headers=headers)
            assert started.status_code == 201, started.text
            for _ in range(200):  # the workflow's first activities run moments after the answer
                if any(s.name.startswith("RunActivity:") for s in exported.get_finished_spans()):
                    break
                await asyncio.sleep(0.05)
        await terminate_cohorts(time_skipping.client, store)
    spans = exported.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /api/v1/cohorts" and s.parent is None)
    assert request.context is not None
    in_trace = {
        s.name.split(":")[0] for s in spans if s.context is not None and s.context.trace_id == request.context.trace_id
    }
    assert {"StartWorkflow", "RunWorkflow", "StartActivity", "RunActivity"} <= in_trace, sorted(in_trace)


def test_the_standard_otlp_variable_turns_tracing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_provider(Settings()) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    provider = configured_provider(Settings())
    assert provider is not None and provider is configured_provider(Settings())  # one per process and endpoint


def test_an_endpoint_that_is_not_an_http_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_OTLP_ENDPOINT", "collector:4317")
    with pytest.raises(ValidationError, match="COHORTFLOW_OTLP_ENDPOINT"):
        Settings()
