"""With COHORTFLOW_LOG_FORMAT=json every line on stderr is one JSON object: the service's and other libraries'."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.logs import configure_logging
from cohortflow.runtime.temporal import free_port
from tests.observability.conftest import json_lines

ROOT = Path(__file__).resolve().parents[2]


async def test_every_line_of_a_served_api_is_json(database_url: str, time_skipping: WorkflowEnvironment) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": time_skipping.client.service_client.config.target_host,
        "COHORTFLOW_LOG_FORMAT": "json",
        "COHORTFLOW_LOG_LEVEL": "info",
    }
    command = [sys.executable, "-c", "from cohortflow.cli.main import app; app()", "api", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    await http.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            refused = await http.get("/api/v1/cohorts", headers={"X-Request-ID": "not safe"})
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert refused.status_code == 401
    lines = json_lines(err.decode())  # raises on any line that is not JSON
    request_id = refused.headers["X-Request-ID"]
    by_event = {line["event"]: line for line in lines if line.get("request_id") == request_id}
    assert by_event["sign-in failed"]["level"] == "warning"
    replaced = [line for line in lines if line.get("logger") == "asgi_correlation_id"]
    assert len(replaced) == 1 and request_id in replaced[0]["event"] and replaced[0]["level"] == "warning"
    access = [line for line in lines if line.get("logger") == "uvicorn.access" and line.get("request_id") == request_id]
    assert len(access) == 1 and 'GET /api/v1/cohorts HTTP/1.1" 401' in access[0]["event"]
    assert any(line.get("logger") == "uvicorn.error" and "Started server process" in line["event"] for line in lines)


def test_a_library_error_with_its_traceback_is_one_json_line(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("json", "info")
    try:
        raise ValueError("broken migration")
    except ValueError:
        logging.getLogger("alembic.runtime.migration").exception("upgrade failed")
    logging.getLogger("httpx").info("below the libraries' level: not shown")
    logging.getLogger("temporalio.worker").warning("worker %s slow", "w1")
    lines = json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"], line["level"]) for line in lines] == [
        ("alembic.runtime.migration", "upgrade failed", "error"),
        ("temporalio.worker", "worker w1 slow", "warning"),
    ]
    assert "ValueError: broken migration" in lines[0]["exception"]
