"""A worker given a metrics address serves the Temporal SDK's own metrics there, for Prometheus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from cohortflow.observability.temporal_runtime import temporal_runtime
from cohortflow.runtime.temporal import free_port
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client, run_worker


async def test_a_worker_serves_the_sdks_metrics(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    client = await connect_client(
        time_skipping.client.service_client.config.target_host, runtime=temporal_runtime(address)
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(client, store, task_queue, stop, tmp_path))
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):  # the first polls are under way within moments of the start
                text = (await http.get(f"http://{address}/metrics")).text
                if "temporal_num_pollers" in text:
                    break
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
    families = {family.name: family for family in text_string_to_metric_families(text)}
    pollers = families["temporal_num_pollers"].samples
    assert any(s.labels["task_queue"] == task_queue and s.value > 0 for s in pollers), pollers
    assert families["temporal_worker_start"].samples[0].value >= 1


@pytest.mark.parametrize("address", ["9464", "localhost", "host:port", "a b:1"])
def test_a_malformed_metrics_address_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="temporal_metrics_address"):
        Settings(temporal_metrics_address=address)


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "[::]:9464", "worker-1.internal:9000"])
def test_a_metrics_address_is_host_and_port(address: str) -> None:
    assert Settings(temporal_metrics_address=address).temporal_metrics_address == address
