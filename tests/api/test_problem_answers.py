"""Every error answer is an RFC 9457 problem, whoever gives it: a route, FastAPI itself, the guards, the token check."""

from __future__ import annotations

from http import HTTPStatus

import httpx

from cohortflow.cli.client import refusal
from tests.api.conftest import Api

PROBLEM = "application/problem+json"


def assert_problem(answer: httpx.Response, status: int, instance: str | None) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, object] = answer.json()
    assert body["type"] == "about:blank" and body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    assert isinstance(body["detail"], str) and body["detail"]
    assert body.get("instance") == instance
    return body


async def test_fastapis_own_refusals_are_problems(api: Api) -> None:
    missing = await api.http.get("/api/v1/nowhere", headers=api.as_("admin"))
    assert assert_problem(missing, 404, "/api/v1/nowhere")["detail"] == "Not Found"
    wrong_method = await api.http.delete("/api/v1/cohorts", headers=api.as_("admin"))
    assert assert_problem(wrong_method, 405, "/api/v1/cohorts")["detail"] == "Method Not Allowed"
    assert "POST" in wrong_method.headers["Allow"]
    invalid = await api.http.post("/api/v1/cohorts/c1/withdrawals", json={"reason": "moved"}, headers=api.as_("admin"))
    body = assert_problem(invalid, 422, "/api/v1/cohorts/c1/withdrawals")
    assert body["detail"] == "the request is not valid"
    assert body["problems"] == [
        {"type": "missing", "loc": ["body", "participant_id"], "msg": "Field required", "input": {"reason": "moved"}}
    ]
    assert "not valid" in str(refusal(invalid)) and refusal(invalid).problems == ["body.participant_id: Field required"]


async def test_the_guards_and_the_token_check_answer_problems(api: Api) -> None:
    control = await api.http.get("/api/v1/cohorts/a%00b/status", headers=api.as_("admin"))
    assert "control character" in str(assert_problem(control, 400, None)["detail"])
    big = await api.http.post(
        "/api/v1/cohorts", content=b"{" * (api.settings.max_body_bytes + 1), headers=api.as_("admin")
    )
    assert "larger than the limit" in str(assert_problem(big, 413, "/api/v1/cohorts")["detail"])
    anonymous = await api.http.get("/api/v1/cohorts")
    assert assert_problem(anonymous, 401, "/api/v1/cohorts")["detail"] == "missing bearer token"
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    forbidden = await api.http.post("/api/v1/programmes", json={}, headers=api.as_("coordinator"))
    assert assert_problem(forbidden, 403, "/api/v1/programmes")["detail"] == "role coordinator may not programmes:write"


async def test_a_routes_refusals_are_problems_and_the_cli_reads_them(api: Api) -> None:
    unknown = await api.http.get("/api/v1/cohorts/nope/summary", headers=api.as_("auditor"))
    assert assert_problem(unknown, 404, "/api/v1/cohorts/nope/summary")["detail"] == "cohort nope does not exist"
    assert (refusal(unknown).status, refusal(unknown).detail) == (404, "cohort nope does not exist")
    invalid = await api.http.post("/api/v1/programmes/validate", json={"id": "x"}, headers=api.as_("admin"))
    body = assert_problem(invalid, 422, "/api/v1/programmes/validate")
    assert body["detail"] == "programme template is invalid"
    assert isinstance(body["problems"], list) and body["problems"]
    assert refusal(invalid).problems == body["problems"]


ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


async def test_a_reader_asking_for_chinese_reads_every_problem_in_chinese(api: Api) -> None:
    missing = await api.http.get("/api/v1/nowhere", headers=api.as_("admin") | ZH)
    assert (missing.json()["title"], missing.json()["detail"]) == ("未找到", "未找到")
    assert missing.headers["Content-Language"] == "zh" and missing.headers["Vary"] == "Accept-Language"
    invalid = await api.http.post(
        "/api/v1/cohorts/c1/withdrawals", json={"reason": "moved"}, headers=api.as_("admin") | ZH
    )
    body = invalid.json()
    assert (body["title"], body["detail"], body["problems"][0]["msg"]) == ("内容有误", "请求有误", "必填项缺失")
    assert body["problems"][0]["loc"] == ["body", "participant_id"]  # where it is stays as the request named it
    template = await api.http.post("/api/v1/programmes/validate", json={"id": "x"}, headers=api.as_("admin") | ZH)
    assert template.json()["detail"] == "项目模板有误"
    # The guards answer before FastAPI does, and the token check before the route: both in the reader's language.
    big = await api.http.post(
        "/api/v1/cohorts", content=b"{" * (api.settings.max_body_bytes + 1), headers=api.as_("admin") | ZH
    )
    limit = f"{api.settings.max_body_bytes:,}"
    assert (big.status_code, big.headers["content-type"], big.json()["instance"]) == (413, PROBLEM, "/api/v1/cohorts")
    assert (big.json()["title"], big.json()["detail"]) == ("请求内容过大", f"请求内容超过 {limit} 字节的上限")
    assert big.headers["Content-Language"] == "zh"
    anonymous = await api.http.get("/api/v1/cohorts", headers=ZH)
    assert (anonymous.status_code, anonymous.headers["content-type"]) == (401, PROBLEM)
    assert (anonymous.json()["title"], anonymous.json()["detail"]) == ("未认证", "缺少 Bearer 令牌")
    assert anonymous.headers["Content-Language"] == "zh" and anonymous.headers["WWW-Authenticate"] == "Bearer"


async def test_english_is_the_default_and_any_language_we_do_not_speak_gets_english(api: Api) -> None:
    for header in ({}, {"Accept-Language": "fr-FR, de;q=0.5"}, {"Accept-Language": "zh;q=0, en"}):
        answer = await api.http.get("/api/v1/nowhere", headers=api.as_("admin") | header)
        assert (answer.json()["detail"], answer.headers["Content-Language"]) == ("Not Found", "en")
