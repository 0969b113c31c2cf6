"""Temporal's time-skipping test server beside PostgreSQL: years of programme time in moments.

The demo and the benchmarks run cohorts here. Programme days keep their real
length, so every deadline, reminder and credit date is the one a real cohort
would see, but the server's clock jumps to the next timer whenever the caller
lets time pass (``env.sleep``) and nothing is running. In between, time stands
still while the caller imports a phase's files, exactly as an office would
within a phase's window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from cohortflow.runtime.stack import local_database
from cohortflow.runtime.temporal import installed_binary
from cohortflow.settings import Settings


@dataclass(frozen=True)
class SkippingStack:
    database_url: str
    env: WorkflowEnvironment


async def start_time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        # The SDK core warns on stdout that the test server lacks a newer server's capability (keeping heartbeat
        # details of a failed activity, which nothing here reads); that line would break ``demo --json``.
        runtime=Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter("ERROR", "ERROR")))),
    )


@asynccontextmanager
async def time_skipping_stack(settings: Settings, state_dir: Path) -> AsyncIterator[SkippingStack]:
    """PostgreSQL (embedded unless ``DATABASE_URL`` is set), migrated, and a time-skipping Temporal server."""
    with local_database(settings, state_dir) as database_url:
        env = await start_time_skipping()
        try:
            yield SkippingStack(database_url, env)
        finally:
            await env.shutdown()
