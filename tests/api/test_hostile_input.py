"""Malformed and hostile requests get a specific 4xx (or 503/507 in an outage) and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME, Api


async def submitted(api: Api) -> None:
    body = PROGRAMME.model_dump_json().encode()
    answer = await api.http.post(
        "/api/v1/programmes", content=body, headers=api.as_("admin") | {"content-type": "application/json"}
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/cohorts/a%00b/status",
        "/api/v1/cohorts/a%00b/participants/P1",
        "/api/v1/cohorts/x/participants/P%001",
        "/api/v1/reminders/failures?cohort=%00",
        "/api/v1/audit/verify?cohort=a%00",
        "/api/v1/reminders/failures?cohort=%ff%fe",
        "/api/v1/cohorts/" + "x" * 3000 + "/status",
    ],
)
async def test_a_malformed_address_is_refused_with_400_before_any_route(api: Api, store: EventStore, url: str) -> None:
    before = (await store.head()).position
    method = "POST" if "verify" in url else "GET"
    answer = await api.http.request(method, url, headers=api.as_("admin"))
    assert answer.status_code == 400, answer.text
    assert "control character" in answer.json()["detail"] or "UTF-8" in answer.text or "longer than" in answer.text
    assert (await store.head()).position == before


async def test_a_json_body_that_is_not_utf8_is_refused(api: Api) -> None:
    body = b'{"cohort_id": "c1", "programme_id": "\xff\xfe", "version": 1}'
    answer = await api.http.post(
        "/api/v1/cohorts", content=body, headers=api.as_("admin") | {"content-type": "application/json"}
    )
    assert answer.status_code in (400, 422) and answer.status_code < 500, answer.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"participant_id": "P1", "reason": "a\u0000b"}, "reason"),
        ({"participant_id": "P1", "reason": "x" * 1001}, "reason"),
        ({"participant_id": "P\u00001", "reason": "moved"}, "participant_id"),
        ({"participant_id": "P" * 101, "reason": "moved"}, "participant_id"),
    ],
)
async def test_text_with_nul_or_beyond_its_length_is_refused_naming_the_field(
    api: Api, store: EventStore, body: dict[str, str], field: str
) -> None:
    before = (await store.head()).position
    answer = await api.http.post("/api/v1/cohorts/any/withdrawals", json=body, headers=api.as_("admin"))
    assert answer.status_code == 422, answer.text
    assert [e["loc"][-1] for e in answer.json()["problems"]] == [field]
    assert (await store.head()).position == before


async def test_a_body_over_its_limit_is_refused_by_its_length_before_it_is_read(api: Api) -> None:
    sent = 0

    async def body(size: int) -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(size // 65536):
            sent += 65536
            yield bytes(65536)

    limit = api.settings.max_body_bytes
    declared = {"content-type": "application/json", "content-length": str(limit + 65536)}
    answer = await api.http.post("/api/v1/programmes", content=body(limit + 65536), headers=declared)
    assert answer.status_code == 413 and f"{limit:,} bytes" in answer.text
    assert sent <= 65536  # refused by the declared length, not after reading


async def test_an_upload_without_a_token_is_refused_unread(api: Api) -> None:
    sent = 0
    boundary = "b0undary"

    async def multipart() -> AsyncIterator[bytes]:
        nonlocal sent
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.csv"\r\n\r\n'.encode()
        for _ in range(24):
            sent += 65536
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    answer = await api.http.post("/api/v1/cohorts/any/imports/nominees", content=multipart(), headers=headers)
    assert answer.status_code == 401
    assert sent < 24 * 65536  # answered before the body was read
    assert not any(api.settings.uploads.glob("*")) if api.settings.uploads.exists() else True


async def test_an_upload_past_the_limit_is_cut_off_while_it_streams(api: Api) -> None:
    boundary = "b0undary"
    limit = api.settings.max_upload_bytes

    async def multipart() -> AsyncIterator[bytes]:  # no declared length: chunked
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.csv"\r\n\r\n'.encode()
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = api.as_("admin") | {"content-type": f"multipart/form-data; boundary={boundary}"}
    answer = await api.http.post("/api/v1/cohorts/any/imports/nominees", content=multipart(), headers=headers)
    assert answer.status_code == 413 and f"{limit:,} bytes" in answer.text


async def test_a_form_without_the_file_field_is_refused_naming_it(api: Api) -> None:
    answer = await api.http.post(
        "/api/v1/cohorts/any/imports/nominees", files={"other": ("n.csv", b"a,b\n")}, headers=api.as_("admin")
    )
    assert answer.status_code == 422 and "'file'" in answer.text
