"""OpenTelemetry traces, when an OTLP endpoint is configured: from an API request to the workflow and its activities.

FastAPI's instrumentation opens a span for each request; Temporal's
``TracingInterceptor``, on the API's client and on the worker's, carries the
trace in the headers of what the client starts or updates, so the workflow's
and its activities' spans join the request's trace. Spans go to the collector
over OTLP/HTTP in batches. Without an endpoint nothing of this is imported.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

    from cohortflow.settings import Settings

SERVICE_NAME = "cohortflow"


@functools.cache
def _exporting(endpoint: str) -> TracerProvider:
    """One provider per process and endpoint: the API and the worker of ``cohortflow up`` share it."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    # The base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT means it; the HTTP exporter wants the traces path.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    return provider


def configured_provider(settings: Settings) -> TracerProvider | None:
    """The tracer provider exporting to the configured endpoint, or None when tracing is off."""
    return _exporting(settings.otlp_endpoint) if settings.otlp_endpoint is not None else None


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """The Temporal client's interceptors: tracing when there is a provider (a worker on the client inherits it)."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("cohortflow.temporal"))]


def trace_requests(app: FastAPI, provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
