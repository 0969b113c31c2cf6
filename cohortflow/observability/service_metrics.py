"""The metrics an API process counts as it answers: requests by route and status, and import durations.

Each app has a registry of its own rather than prometheus_client's global one, so
that several apps in one process (the tests) do not count into each other.
States that are read when scraped (stalled cohorts, read-model lag, the reminder
outbox) are not kept here: ``cohortflow.api.metrics`` asks for them at each scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404, or refused before routing): paths are not labels."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other a client sends is counted as ``other``, so no caller can add series."""

# Imports take from a fraction of a second (a few rows) to minutes (50,000 rows with their checks).
IMPORT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cohortflow_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cohortflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.imports = Histogram(
            "cohortflow_import_duration_seconds",
            "Time from an import's upload being stored to its outcome (applied, refused or duplicate), by kind",
            ["kind"],
            buckets=IMPORT_BUCKETS,
            registry=self.registry,
        )

    def request_answered(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in METHODS else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def import_finished(self, kind: str, seconds: float) -> None:
        self.imports.labels(kind).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
