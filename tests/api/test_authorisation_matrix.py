"""Authorisation is one rule applied everywhere, tried from the OpenAPI document on every route and every role.

The cases are generated from the app's own document (built at collection time, and
checked to be the one the live server publishes), so a new route is tried without
editing this file. Each operation states what it needs (``x-permission``: a
permission, or ``public``); one that states nothing fails here. Every operation is
then sent, over real HTTP to the real app with a real store, a worker and the
time-skipping Temporal server behind it, once without a token and once as each
role (admin, auditor, reminder, and coordinators of two prefectures), with path
parameters naming real objects (the programme, a cohort with nominees in both
prefectures) and minimal valid bodies. The answer must be:

- for a public operation, never 401, 403 or 429 (one taking a path parameter may refuse what it names);
- 401 without a token (and documented);
- 403 when the role lacks the operation's permission (and documented);
- for a coordinator reading another prefecture's participant, 404, as for one that does not exist;
- otherwise neither 401 nor 403, nor a server error; a read of one's own participant finds them.

The same document also drives the hostile-parameter cases: every path and query
parameter of every operation is sent holding a NUL, and longer than the address
limit, and must be refused with a 4xx; one just within the limit must not cause a
server error.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import quote

import httpx
import pytest
from fastapi import Depends, FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.roles import GRANTS, Permission, Principal, Role
from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.api.auth import PERMISSION_KEY, PUBLIC, document_permissions, require
from cohortflow.api.guards import MAX_PATH
from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.api.live_server import LiveApi, live_api
from tests.conftest import fresh_database

PROGRAMME = sample_programme(120, 20, reminders=True)
RULE = PROGRAMME.reminders.rules[0].code if PROGRAMME.reminders else "none"
SEED = 20240501
NOMINEES = nominees(PROGRAMME, seed=SEED)
HOME = PROGRAMME.prefectures[0].code  # the live server's own coordinator's
AWAY = next(row.prefecture_code for row in NOMINEES if row.prefecture_code != HOME)
COHORT = "matrix"
TIMEOUT = 60.0
NOMINEE_COLUMNS = ("participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role")
METHODS = ("get", "put", "post", "delete", "patch")


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built without a server: nothing connects until the app starts."""
    app = create_app(Settings(), "postgresql://nowhere/none", temporal=cast(Client, object()))
    return app.openapi()


DOCUMENT = _document()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def parameters(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def json_body(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return _resolve(schema) if schema is not None else None

    @property
    def upload(self) -> bool:
        return "multipart/form-data" in self.spec.get("requestBody", {}).get("content", {})

    @property
    def names_a_participant(self) -> bool:
        named = {p["name"] for p in self.spec.get("parameters", [])}
        body = self.json_body or {}
        return bool({"participant_id", "participant"} & named) or "participant_id" in body.get("properties", {})

    @property
    def permissions(self) -> list[str]:
        stated = self.spec.get(PERMISSION_KEY)
        return [] if stated is None else [stated] if isinstance(stated, str) else list(stated)


OPERATIONS = [
    Operation(method, path, spec)
    for path, item in DOCUMENT["paths"].items()
    for method, spec in item.items()
    if method in METHODS
]


@dataclass(frozen=True)
class Caller:
    """Who sends a request: no one, or a role (a coordinator bound to ``prefecture``)."""

    name: str
    role: Role | None
    prefecture: str | None = None


CALLERS = (
    Caller("anonymous", None),
    Caller("admin", "admin"),
    Caller("coordinator", "coordinator", HOME),
    Caller("coordinator-away", "coordinator", AWAY),
    Caller("auditor", "auditor"),
    Caller("reminder", "reminder"),
)


def _first_in(prefecture: str) -> str:
    return next(row.participant_id for row in NOMINEES if row.prefecture_code == prefecture)


PARTICIPANT = {HOME: _first_in(HOME), AWAY: _first_in(AWAY)}


def cases() -> Iterator[Any]:
    for operation in OPERATIONS:
        for caller in CALLERS:
            sides = ("own", "other") if operation.names_a_participant and caller.role is not None else ("-",)
            for side in sides:
                label = f"{operation.label} as {caller.name}" + ("" if side == "-" else f", {side} participant")
                yield pytest.param(operation, caller, side, id=label)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


# Values for parameters and fields by name, so requests reach real objects. A name not
# here gets the simplest value its schema takes (``minimal``).
def known_values(participant: str) -> dict[str, Any]:
    return {
        "cohort_id": COHORT,
        "cohort": COHORT,
        "programme_id": PROGRAMME.id,
        "version": PROGRAMME.version,
        "old": PROGRAMME.version,
        "new": PROGRAMME.version,
        "participant_id": participant,
        "participant": participant,
        "rule": RULE,
        "digest": "0" * 64,
        "plan_id": "matrix-plan",
        "at": datetime.now(UTC).isoformat(),
    }


# Whole bodies by their schema's name, where the minimal one would only be refused.
KNOWN_BODIES = {"Programme": PROGRAMME.model_dump(mode="json")}


def minimal(schema: dict[str, Any], known: dict[str, Any], name: str | None = None) -> Any:
    """The simplest value ``schema`` accepts, or the known value for a field of this name."""
    if name in known:
        return known[name]
    schema = _resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            options = [o for o in schema[choice] if _resolve(o).get("type") != "null"]
            return minimal(options[0], known, name)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {field: minimal(properties.get(field, {}), known, field) for field in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"], known)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return (datetime.now(UTC) + timedelta(days=1)).isoformat()
    if schema.get("format") == "date":
        return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    return "m" + "x" * max(0, schema.get("minLength", 1) - 1)


def nominee_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NOMINEE_COLUMNS)
    writer.writerows([getattr(row, column) for column in NOMINEE_COLUMNS] for row in NOMINEES)
    return out.getvalue().encode()


def request(
    operation: Operation, participant: str, *, overrides: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """The operation's URL and httpx arguments: known or minimal values, ``overrides`` (raw text) on top."""
    known = known_values(participant)
    overrides = overrides or {}
    path = operation.path
    for parameter in operation.parameters("path"):
        name = parameter["name"]
        value = overrides.get(name, str(minimal(parameter.get("schema", {}), known, name)))
        path = path.replace("{" + name + "}", quote(value, safe=""))
    query = {
        p["name"]: str(minimal(p.get("schema", {}), known, p["name"]))
        for p in operation.parameters("query")
        if p.get("required") or p["name"] in ("participant",)
    }
    query.update({k: v for k, v in overrides.items() if k in {p["name"] for p in operation.parameters("query")}})
    arguments: dict[str, Any] = {"params": query}
    body = operation.json_body
    if body is not None:
        title = operation.spec["requestBody"]["content"]["application/json"]["schema"].get("$ref", "").rsplit("/")[-1]
        arguments["json"] = KNOWN_BODIES.get(title) or minimal(body, known)
        if arguments["json"].get("cohort_id") == COHORT and operation.method == "post" and "cohort_id" not in path:
            arguments["json"]["cohort_id"] = f"m{uuid.uuid4().hex[:10]}"  # a cohort of its own to start
    elif operation.upload:
        arguments["files"] = {"file": ("nominees.csv", b"participant_id\n", "text/csv")}
    return path, arguments


@dataclass
class Matrix:
    live: LiveApi
    http: httpx.Client
    tokens: dict[str, str]

    def send(self, operation: Operation, caller: Caller, participant: str, /, **overrides: str) -> httpx.Response:
        path, arguments = request(operation, participant, overrides=overrides)
        headers = {} if caller.role is None else {"Authorization": f"Bearer {self.tokens[caller.name]}"}
        answer = self.http.request(operation.method.upper(), path, headers=headers, **arguments)
        if answer.status_code == 201 and operation.label == "POST /api/v1/cohorts":
            self.live.workflow_ids.add(answer.json()["workflow_id"])
        if answer.status_code == 201 and operation.label == "POST /api/v1/plans":
            started = answer.json()
            self.live.workflow_ids.update({f"plan-{started['plan_id']}", *(f"cohort-{c}" for c in started["planned"])})
        return answer


def _issue(database_url: str, prefecture: str) -> str:
    async def issued() -> str:
        store = await EventStore.connect(database_url)
        try:
            made = await issue_token(
                store.pool, name="matrix-away", role="coordinator", prefecture=prefecture, issued_by="tests"
            )
            return made.secret
        finally:
            await store.close()

    return asyncio.run(issued())


def _until(check: Any, what: str) -> httpx.Response:
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer: httpx.Response = check()
        if answer.status_code < 400 or time.monotonic() > deadline:
            assert answer.status_code < 400, f"{what}: {answer.status_code} {answer.text}"
            return answer
        time.sleep(0.1)


@pytest.fixture(scope="module")
def matrix(
    postgres: EmbeddedPostgres, module_time_skipping: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    settings = Settings(
        task_queue=f"matrix-{uuid.uuid4().hex[:10]}",
        state_dir=tmp_path_factory.mktemp("matrix"),
        max_upload_bytes=1_000_000,
        sign_in_failures=1_000_000,  # every operation is sent without a token on purpose, from one address
    )
    database_url = fresh_database(postgres)
    address = module_time_skipping.client.service_client.config.target_host
    with live_api(settings, database_url, address, prefecture=HOME) as live:
        tokens = {caller.name: live.tokens[caller.role] for caller in CALLERS if caller.role is not None}
        tokens["coordinator-away"] = _issue(database_url, AWAY)
        with httpx.Client(base_url=live.base_url, timeout=TIMEOUT) as http:
            admin = {"Authorization": f"Bearer {tokens['admin']}"}
            submitted = http.post("/api/v1/programmes", json=PROGRAMME.model_dump(mode="json"), headers=admin)
            assert submitted.status_code == 201, submitted.text
            body = {"cohort_id": COHORT, "programme_id": PROGRAMME.id, "version": PROGRAMME.version}
            started = http.post("/api/v1/cohorts", json=body, headers=admin)
            assert started.status_code == 201, started.text
            live.workflow_ids.add(started.json()["workflow_id"])
            sheet = {"file": ("nominees.csv", nominee_csv(), "text/csv")}
            url = f"/api/v1/cohorts/{COHORT}/imports/nominees"
            _until(lambda: http.post(url, files=sheet, headers=admin), "importing the nominees")
            for participant in PARTICIPANT.values():  # the read models have them
                url = f"/api/v1/cohorts/{COHORT}/participants/{participant}"
                _until(lambda url=url: http.get(url, headers=admin), f"reading {participant}")
            yield Matrix(live, http, tokens)


def test_every_operation_states_its_permission() -> None:
    assert OPERATIONS, "the document has no operations"
    unstated = [op.label for op in OPERATIONS if not op.permissions]
    assert not unstated, f"operations stating no permission (use require, reading or public): {unstated}"
    known = {p.value for p in Permission} | {PUBLIC}
    for operation in OPERATIONS:
        assert set(operation.permissions) <= known, (operation.label, operation.permissions)
        assert operation.path.startswith("/api/v1/"), operation.label
    health = next(op for op in OPERATIONS if op.path == "/api/v1/health")
    assert health.permissions == [PUBLIC]


async def cohort_reader(principal: Annotated[Principal, Depends(require(Permission.COHORTS_READ))]) -> str:
    return principal.actor


def test_the_permission_is_found_at_any_depth_and_a_route_stating_none_is_left_bare() -> None:
    app = FastAPI()

    @app.get("/nested")
    async def nested(_: Annotated[str, Depends(cohort_reader)]) -> None: ...

    @app.get("/bare")
    async def bare() -> None: ...

    document = app.openapi()
    document_permissions(document, app.routes)
    assert document["paths"]["/nested"]["get"][PERMISSION_KEY] == "cohorts:read"
    assert {"401", "403", "429"} <= set(document["paths"]["/nested"]["get"]["responses"])
    assert PERMISSION_KEY not in document["paths"]["/bare"]["get"]


def test_the_live_document_is_the_one_the_cases_came_from(matrix: Matrix) -> None:
    served = matrix.http.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@pytest.mark.parametrize(("operation", "caller", "side"), list(cases()))
def test_each_operation_answers_each_caller_as_documented(
    matrix: Matrix, operation: Operation, caller: Caller, side: str
) -> None:
    mine = caller.prefecture or HOME
    theirs = next(code for code in PARTICIPANT if code != mine)
    participant = PARTICIPANT[theirs if side == "other" else mine]
    answer = matrix.send(operation, caller, participant)
    status = answer.status_code
    shown = f"{operation.label} as {caller.name} ({participant}) -> {status} {answer.text[:300]}"
    assert status < 500, shown
    needed = operation.permissions
    assert needed, f"{operation.label} states no permission"
    if needed == [PUBLIC]:  # never refused for who asks; a parameter naming nothing may still be refused (400, 404)
        assert status not in (401, 403, 429), shown
        assert status < 400 or bool(operation.parameters("path")), shown
        return
    documented = operation.spec["responses"]
    if caller.role is None:
        assert status == 401 and "401" in documented, shown
        return
    granted = GRANTS[caller.role]
    if not all(Permission(p) in granted for p in needed):
        assert status == 403 and "403" in documented, shown
        assert answer.json()["detail"].startswith(f"role {caller.role} may not "), shown
        return
    assert status not in (401, 403, 429), shown
    reads_a_participant = operation.names_a_participant and all(p.endswith(":read") for p in needed)
    if reads_a_participant and caller.role == "coordinator" and side == "other":
        assert status == 404, shown
    elif reads_a_participant and side == "own":
        assert status != 404, shown


def hostile_cases() -> Iterator[Any]:
    for operation in OPERATIONS:
        for parameter in operation.parameters("path") + operation.parameters("query"):
            for kind in ("nul", "over-long", "long"):
                label = f"{operation.label} {parameter['in']}.{parameter['name']} {kind}"
                yield pytest.param(operation, parameter["name"], kind, id=label)


@pytest.mark.parametrize(("operation", "name", "kind"), list(hostile_cases()))
def test_each_parameter_holding_a_nul_or_too_long_is_refused(
    matrix: Matrix, operation: Operation, name: str, kind: str
) -> None:
    value = {"nul": "a\x00b", "over-long": "x" * (MAX_PATH + 1), "long": "x" * (MAX_PATH // 2)}[kind]
    admin = CALLERS[1]
    answer = matrix.send(operation, admin, PARTICIPANT[HOME], **{name: value})
    shown = f"{operation.label} with {name}={kind} -> {answer.status_code} {answer.text[:300]}"
    assert answer.status_code < 500, shown
    if kind != "long":  # a long id or name within the limit may exist, or be an empty filter
        assert 400 <= answer.status_code < 500, shown
