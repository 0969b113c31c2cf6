"""The OpenAPI document states the contract: readable operation ids, tags, and every error answer as a problem."""

from __future__ import annotations

import re
from typing import Any, cast

import jsonschema
from fastapi.routing import APIRoute, iter_route_contexts
from temporalio.client import Client

from cohortflow.api.app import create_app
from cohortflow.api.auth import PERMISSION_KEY, PUBLIC
from cohortflow.api.idempotency import AnswersKept, _declares, kept_answer
from cohortflow.api.problems import MEDIA_TYPE
from cohortflow.settings import Settings
from tests.api.conftest import Api

METHODS = ("get", "put", "post", "delete", "patch")
OWN_BODIES = {("get", "/api/v1/health/ready"): {"503"}}
"""Error answers whose body is the route's own model, not a problem: the readiness probe's report."""


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built without a server: nothing connects until the app starts."""
    app = create_app(Settings(), "postgresql://nowhere/none", temporal=cast(Client, object()))
    return app.openapi()


DOCUMENT = _document()
OPERATIONS = [
    (method, path, spec)
    for path, item in DOCUMENT["paths"].items()
    for method, spec in item.items()
    if method in METHODS
]


def expected_errors(path: str, spec: dict[str, Any]) -> set[str]:
    """What every operation of this shape can answer, whatever its route adds."""
    expected = {"400", "503"}
    if spec.get(PERMISSION_KEY) != PUBLIC:
        expected |= {"401", "403", "429"}
    if "{" in path:
        expected.add("404")
    if "requestBody" in spec:
        expected |= {"413", "422"}
    if spec.get("parameters"):
        expected.add("422")
    return expected


def problem_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the document's components beside it, so that its references resolve."""
    return {**schema, "components": DOCUMENT["components"]}


def test_every_operation_has_a_readable_unique_id_and_a_tag() -> None:
    assert len(OPERATIONS) > 30
    ids = [spec.get("operationId", "") for _, _, spec in OPERATIONS]
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", found) for found in ids), ids
    assert len(set(ids)) == len(ids), sorted(ids)
    assert all(spec.get("tags") for _, _, spec in OPERATIONS)
    close_phase = DOCUMENT["paths"]["/api/v1/cohorts/{cohort_id}/close-phase"]["post"]
    assert close_phase["operationId"] == "cohorts-close-phase"


def test_every_operation_lists_its_error_answers_as_problems_with_examples() -> None:
    for method, path, spec in OPERATIONS:
        responses: dict[str, Any] = spec["responses"]
        errors = {code for code in responses if int(code) >= 400}
        missing = expected_errors(path, spec) - errors
        assert not missing, (method, path, sorted(missing))
        for code in errors - OWN_BODIES.get((method, path), set()):
            content = responses[code]["content"]
            assert list(content) == [MEDIA_TYPE], (method, path, code)
            assert content[MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}
            example = content[MEDIA_TYPE]["example"]
            assert example["status"] == int(code)
            jsonschema.validate(example, problem_schema(content[MEDIA_TYPE]["schema"]))
        keyed = any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in spec.get("parameters", []))
        carried = {"401": "WWW-Authenticate", "429": "Retry-After", "503": "Retry-After"}
        for code, header in (carried | {"409": "Retry-After"} if keyed else carried).items():
            if code in responses:
                assert header in responses[code]["headers"], (method, path, code)
        if "409" in responses and not keyed:  # only a key still being answered is sent again after a wait
            assert "headers" not in responses["409"], (method, path)
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]
    ready = DOCUMENT["paths"]["/api/v1/health/ready"]["get"]["responses"]["503"]["content"]
    assert ready["application/json"]["schema"] == {"$ref": "#/components/schemas/Readiness"}


def test_routes_declare_the_refusals_only_they_give() -> None:
    paths = DOCUMENT["paths"]
    assert "409" in paths["/api/v1/cohorts/{cohort_id}/fill-place"]["post"]["responses"]
    assert {"409", "415"} <= set(paths["/api/v1/cohorts/{cohort_id}/imports/{kind}"]["post"]["responses"])
    assert "410" in paths["/api/v1/imports/{digest}/rejects"]["get"]["responses"]
    assert "409" not in paths["/api/v1/cohorts/{cohort_id}/funnel"]["get"]["responses"]


async def test_real_refusals_match_the_documented_schema(api: Api) -> None:
    schema = problem_schema({"$ref": "#/components/schemas/Problem"})
    invalid = await api.http.post("/api/v1/cohorts/c1/withdrawals", json={"reason": 3}, headers=api.as_("admin"))
    assert invalid.status_code == 422 and len(invalid.json()["problems"]) == 2, invalid.text
    template = await api.http.post("/api/v1/programmes/validate", json={"id": "x"}, headers=api.as_("admin"))
    assert template.status_code == 422, template.text
    missing = await api.http.get("/api/v1/cohorts/nope/summary", headers=api.as_("auditor"))
    assert missing.status_code == 404
    for answer in (invalid, template, missing):
        jsonschema.validate(answer.json(), schema)


READS = ("/validate", "/preview", "/api/v1/audit/verify")
"""POST routes that only read (a check, a preview, a verification): they change nothing, so take no key."""


def test_every_command_takes_an_idempotency_key_and_keeps_its_answer_where_it_is_not_an_update() -> None:
    commands = [(path, spec) for method, path, spec in OPERATIONS if method == "post" and not path.endswith(READS)]
    assert len(commands) > 20
    for path, spec in commands:
        headers = {p["name"] for p in spec.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert "422" in spec["responses"], path  # another request under a used key
    app = create_app(Settings(), "postgresql://nowhere/none", temporal=cast(Client, object()))
    kept = [
        (r.path_format, r.original_route)
        for r in iter_route_contexts(list(app.routes))
        if isinstance(r.original_route, APIRoute) and _declares(r.original_route.dependant, kept_answer)
    ]
    assert {path for path, _ in kept} >= {"/api/v1/cohorts", "/api/v1/programmes", "/api/v1/plans", "/api/v1/reviews"}
    assert [path for path, route in kept if not isinstance(route, AnswersKept)] == []
