"""Every answer carries an X-Request-ID, the caller's when it is safe, and every log line of the request names it."""

from __future__ import annotations

import re

import httpx
import pytest

from cohortflow.logs import configure_logging
from tests.observability.conftest import json_lines


async def test_an_answer_carries_a_new_id_when_the_request_has_none(http: httpx.AsyncClient) -> None:
    first = await http.get("/api/v1/health")
    second = await http.get("/api/v1/health")
    assert first.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]


async def test_a_safe_incoming_id_is_kept(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/health", headers={"X-Request-ID": "lb-7f3a:2026.12.04_01"})
    assert answer.headers["X-Request-ID"] == "lb-7f3a:2026.12.04_01"


@pytest.mark.parametrize("unsafe", [b"two words", b"x" * 65, b'a"b', b"id,forged=1", "日本".encode()])
async def test_an_unsafe_incoming_id_is_replaced(http: httpx.AsyncClient, unsafe: bytes) -> None:
    answer = await http.get("/api/v1/health", headers={b"X-Request-ID": unsafe})
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]), answer.headers["X-Request-ID"]


async def test_a_request_refused_before_any_route_has_an_id(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/v1/programmes", content=b"x" * 2_000_000, headers={"X-Request-ID": "big-one"})
    assert answer.status_code == 413
    assert answer.headers["X-Request-ID"] == "big-one"


async def test_every_log_line_of_a_request_names_its_id(
    http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging("json", "info")
    capsys.readouterr()
    refused = await http.get("/api/v1/cohorts", headers={"X-Request-ID": "req-42"})
    assert refused.status_code == 401
    lines = [line for line in json_lines(capsys.readouterr().err) if line.get("event") == "sign-in failed"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "req-42" and lines[0]["reason"] == "missing"
