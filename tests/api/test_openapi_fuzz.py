"""Fuzz the HTTP API from its own OpenAPI schema: no request may answer 5xx or go unanswered.

schemathesis generates requests for every operation the app publishes at
``/openapi.json`` (its coverage cases: boundaries, missing and wrong parameters;
then random valid and invalid data) and sends them over HTTP to the real app,
with a real store, a worker and the time-skipping Temporal server behind it
(``live_server``). A programme and a running cohort with its nominees are
recorded first, and parameters sometimes name them, so requests also reach
real objects: Updates on the cohort run real activities.

An answer must not be a server error, and its status must be one the operation
documents (every refusal it can give is listed: ``cohortflow.api.openapi``). A
request that gets no answer within ``TIMEOUT`` seconds fails too, and ends the
fuzzing of its operation. A failure shows the request and what the server
logged while answering it.

schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) sets
``Node._nodeid``, which pytest 9.2 no longer has, so the operations are driven
here through schemathesis' strategies, with Hypothesis.
``COHORTFLOW_FUZZ_SEED`` picks another seed (the default keeps runs repeatable).
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees, participant_id, sample_programme
from cohortflow.domain.nomination import NomineeRow
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.settings import Settings
from tests.api.live_server import LiveApi, live_api
from tests.conftest import fresh_database

PROGRAMME = sample_programme(120, 20)
COORDINATED = "430100"
COHORT = "fuzz"
NOMINEE_COLUMNS = ("participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role")
TIMEOUT = 30.0
LOG_RECORDS = 3  # of what the server logged while answering, shown with a failure
SEED = int(os.environ.get("COHORTFLOW_FUZZ_SEED", "20240501"))
AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]


@dataclass(frozen=True)
class Pass:
    role: str
    max_examples: int  # per operation and generation mode (valid, invalid)
    coverage: bool  # also send schemathesis' coverage cases


PASSES = {"admin": Pass("admin", 30, coverage=True), "coordinator": Pass("coordinator", 10, coverage=False)}


def fuzz_config(max_examples: int) -> schemathesis.Config:
    """Bounded generation, and parameters that sometimes name the recorded programme and cohort."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": TIMEOUT,
            "suppress-health-check": ["all"],
            "generation": {"max-examples": max_examples, "no-shrink": True, "database": "none"},
            "dictionaries": {
                "cohorts": {"values": [COHORT]},
                "programmes": {"values": [PROGRAMME.id]},
                "versions": {"values": [PROGRAMME.version]},
                "participants": {"values": [participant_id(i) for i in range(1, 6)]},
            },
            "parameters": {
                "path.cohort_id": {"dictionary": "cohorts", "probability": 0.5},
                "query.cohort": {"dictionary": "cohorts", "probability": 0.3},
                "path.programme_id": {"dictionary": "programmes", "probability": 0.5},
                "path.version": {"dictionary": "versions", "probability": 0.5},
                "query.old": {"dictionary": "versions", "probability": 0.5},
                "query.new": {"dictionary": "versions", "probability": 0.5},
                "body.programme_id": {"dictionary": "programmes", "probability": 0.3},
                "path.participant_id": {"dictionary": "participants", "probability": 0.5},
                "query.participant": {"dictionary": "participants", "probability": 0.3},
                "body.participant_id": {"dictionary": "participants", "probability": 0.3},
            },
        }
    )


def sent(response: Response) -> str:
    """The request exactly as it went out, its token left out."""
    request = response.request
    headers = {k: ("[token]" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
    body = request.body if isinstance(request.body, bytes | str | None) else repr(request.body)
    return f"{request.method} {request.url}\n  headers: {headers}\n  body: {body!r}"


def generated(case: AnyCase) -> str:
    return (
        f"{case.method.upper()} {case.formatted_path}\n  query: {case.query!r}\n"
        f"  media type: {case.media_type!r}\n  body: {case.body!r}"
    )


@dataclass
class Fuzzer:
    live: LiveApi
    schema: BaseSchema
    run: Pass
    failures: list[str] = field(default_factory=list)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    notes: list[str] = field(default_factory=list)
    hung: set[str] = field(default_factory=set)

    def send(self, case: AnyCase) -> None:
        """Send one generated request and check its answer; a failure is kept, not raised."""
        label = case.operation.label
        if label in self.hung:
            return  # one request this operation left unanswered is enough; each would take TIMEOUT
        headers = self.live.auth(self.run.role)
        mark = len(self.live.log.lines)
        try:
            response = case.call(headers=headers, timeout=TIMEOUT)
        except requests.Timeout:
            self.hung.add(label)
            self.statuses[label][0] += 1  # 0: no answer
            self.fail(f"no answer within {TIMEOUT:g} s to {generated(case)}", mark)
            return
        self.statuses[label][response.status_code] += 1
        if label == "POST /api/v1/cohorts" and response.status_code == 201:
            self.live.workflow_ids.add(response.json()["workflow_id"])
        if label == "POST /api/v1/plans" and response.status_code == 201:
            started = response.json()
            self.live.workflow_ids |= {f"plan-{started['plan_id']}", *(f"cohort-{c}" for c in started["planned"])}
        try:
            case.validate_response(
                response,
                checks=[not_a_server_error, status_code_conformance],
                headers=headers,
                transport_kwargs={"base_url": self.live.base_url, "headers": headers, "timeout": TIMEOUT},
            )
        except FailureGroup as exc:
            self.fail(f"{sent(response)}\n{exc}", mark)

    def fail(self, report: str, log_mark: int) -> None:
        server_log = self.live.log.since(log_mark)
        shown = "\n".join(server_log[:LOG_RECORDS]) or "(nothing)"
        if len(server_log) > LOG_RECORDS:
            shown += f"\n... and {len(server_log) - LOG_RECORDS} more records"
        self.failures.append(f"as {self.run.role}: {report}\nserver log:\n{shown}")

    def fuzz(self) -> None:
        for result in self.schema.get_all_operations():
            if isinstance(result, Ok):
                operation = result.ok()
                started = time.monotonic()
                self.fuzz_operation(operation)
                self.seconds[operation.label] += time.monotonic() - started
            else:
                self.failures.append(f"schemathesis cannot use this part of the schema: {result.err()}")

    def fuzz_operation(self, operation: Operation) -> None:
        config = self.schema.config
        if self.run.coverage:
            coverage = config.generation_for(operation=operation, phase="coverage")
            for case in self.schema.iter_coverage_cases(
                operation, generation_modes=list(GenerationMode), generation_config=coverage
            ):
                self.send(case)
        for mode in GenerationMode:

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=self.run.max_examples,
                deadline=None,
                database=None,
                phases=[hypothesis.Phase.generate],  # no shrinking: a failure is reported as found
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def examples(case: AnyCase) -> None:
                self.send(case)

            try:
                examples()
            except hypothesis.errors.Unsatisfiable:
                self.notes.append(f"no {mode} data for {operation.label}")

    def summary(self) -> list[str]:
        total = sum(sum(counts.values()) for counts in self.statuses.values())
        lines = [f"openapi fuzz as {self.run.role}: {total} requests, seed {SEED}"]
        for label, counts in sorted(self.statuses.items()):
            answers = " ".join(f"{status}x{n}" for status, n in sorted(counts.items()))
            lines.append(f"  {label:<58} {self.seconds[label]:5.1f} s  {answers}")
        return lines + [f"  {note}" for note in self.notes]


@pytest.fixture(scope="module")
def live(
    postgres: EmbeddedPostgres, module_time_skipping: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    settings = Settings(
        task_queue=f"fuzz-{uuid.uuid4().hex[:10]}",
        state_dir=tmp_path_factory.mktemp("fuzz"),
        max_upload_bytes=1_000_000,
        sign_in_failures=1_000_000,  # generated requests may lack a token or carry a broken one, all from one address
    )
    address = module_time_skipping.client.service_client.config.target_host
    with live_api(settings, fresh_database(postgres), address, prefecture=COORDINATED) as api:
        record_programme_and_cohort(api)
        yield api


def nominee_csv(rows: list[NomineeRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NOMINEE_COLUMNS)
    writer.writerows([getattr(row, column) for column in NOMINEE_COLUMNS] for row in rows)
    return out.getvalue().encode()


def import_nominees(http: httpx.Client, cohort_id: str) -> None:
    """The cohort's nominees, once its workflow has recorded the nomination phase as open.

    Until then the import is refused (409), even when the status already names the phase.
    """
    sheet = nominee_csv(nominees(PROGRAMME, seed=SEED))
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer = http.post(
            f"/api/v1/cohorts/{cohort_id}/imports/nominees", files={"file": ("nominees.csv", sheet, "text/csv")}
        )
        if answer.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text


def record_programme_and_cohort(api: LiveApi) -> None:
    """A recorded programme and a running cohort with its nominees, for generated requests to find."""
    with httpx.Client(base_url=api.base_url, headers=api.auth("admin"), timeout=TIMEOUT) as http:
        submitted = http.post("/api/v1/programmes", json=PROGRAMME.model_dump(mode="json"))
        assert submitted.status_code == 201, submitted.text
        started = http.post(
            "/api/v1/cohorts", json={"cohort_id": COHORT, "programme_id": PROGRAMME.id, "version": PROGRAMME.version}
        )
        assert started.status_code == 201, started.text
        api.workflow_ids.add(started.json()["workflow_id"])
        import_nominees(http, COHORT)


def fuzz_as(role: str, live: LiveApi, capsys: pytest.CaptureFixture[str]) -> None:
    run = PASSES[role]
    schema = schemathesis.openapi.from_url(
        f"{live.base_url}/openapi.json", config=fuzz_config(run.max_examples), timeout=TIMEOUT
    )
    fuzzer = Fuzzer(live, schema, run)
    try:
        fuzzer.fuzz()
    finally:
        with capsys.disabled():
            print("\n" + "\n".join(fuzzer.summary()))
    assert not fuzzer.failures, f"{len(fuzzer.failures)} failing requests:\n\n" + "\n\n".join(fuzzer.failures)


# The admin pass sends every operation's coverage cases too: some five minutes on a machine shared with other runs.
@pytest.mark.timeout(900)
def test_no_request_from_an_admin_gets_a_server_error(live: LiveApi, capsys: pytest.CaptureFixture[str]) -> None:
    fuzz_as("admin", live, capsys)


def test_no_request_from_a_coordinator_gets_a_server_error(live: LiveApi, capsys: pytest.CaptureFixture[str]) -> None:
    fuzz_as("coordinator", live, capsys)
