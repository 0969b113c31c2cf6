"""The Temporal SDK's runtime for the service's processes: its metrics served for Prometheus, its logs ours.

The SDK's core (Rust) keeps its own telemetry: without this runtime its warnings
are printed to stderr in a format of its own, and its metrics (polls, task
latencies, activity execution times by activity type: an import's duration on
the worker side among them) are not kept at all.
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

CORE_LOGGER = "temporalio.core"


def temporal_runtime(metrics_address: str | None = None) -> Runtime:
    """A runtime forwarding the core's warnings to Python logging (JSON when chosen, with everything else) and,
    given ``metrics_address`` (``host:port``), serving the SDK's metrics at ``http://host:port/metrics``."""
    forwarded = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )
    # Seconds rather than the SDK's default milliseconds, as Prometheus' conventions (and our own series) have it.
    metrics = (
        PrometheusConfig(bind_address=metrics_address, durations_as_seconds=True, counters_total_suffix=True)
        if metrics_address is not None
        else None
    )
    return Runtime(telemetry=TelemetryConfig(logging=forwarded, metrics=metrics))
