"""A command sent again under its Idempotency-Key is applied once and answered as the first time."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.api.test_problem_answers import assert_problem
from tests.workflows.helpers import event_types, next_run, wait_for_status


async def started(api: Api, time_skipping: WorkflowEnvironment, cohort: str) -> None:
    await submit(api, template())
    body = {"cohort_id": cohort, "programme_id": PROGRAMME.id, "version": 1}
    assert (await api.http.post("/api/v1/cohorts", json=body, headers=api.as_("admin"))).status_code == 201
    await wait_for_status(time_skipping.client, f"cohort-{cohort}", lambda s: s.phase == "nomination")


async def test_a_command_sent_again_under_its_key_is_applied_once(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await started(api, time_skipping, "idem")
    path = "/api/v1/cohorts/idem/close-phase"
    body = {"phase": "nomination", "reason": "名额已满"}
    keyed = api.as_("admin") | {"Idempotency-Key": "3f0c2a9e-5b1d-4c61-9a1e-7d2f3b4c5d6e"}
    cohort = time_skipping.client.get_workflow_handle("cohort-idem")
    first_run = (await cohort.describe()).run_id
    first = await api.http.post(path, json=body, headers=keyed)
    assert first.status_code == 200 and first.json()["outcome"] == "closing", first.text
    again = await api.http.post(path, json=body, headers=keyed)  # to whichever run is there now
    assert (again.status_code, again.json()) == (200, first.json())
    # The close ends the run (it continues as new): the next run gives the same answer, not "not open".
    await next_run(cohort, first_run)
    later = await api.http.post(path, json=body, headers=keyed)
    assert (later.status_code, later.json()) == (200, first.json())
    unkeyed = await api.http.post(path, json=body, headers=api.as_("admin"))
    assert unkeyed.status_code == 409, unkeyed.text  # the cohort refuses what it has applied: the key answered
    other = await api.http.post(path, json={**body, "reason": "another"}, headers=keyed)
    assert "first used for another close_phase request" in str(assert_problem(other, 422, path)["detail"])

    await time_skipping.sleep(timedelta(days=1))
    await wait_for_status(time_skipping.client, "cohort-idem", lambda s: s.phase == "online_study")
    closed = [e async for e in store.read_stream("cohort-idem") if e.type == "PhaseClosed"]
    assert [e.data["phase"] for e in closed] == ["nomination"]


async def test_an_import_sent_again_under_its_key_gets_its_first_answer(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await started(api, time_skipping, "idem-import")
    sheet = nominee_csv(nominees(PROGRAMME, seed=9)[:5])
    key = {"Idempotency-Key": "import-1"}
    first = await api.http.post(
        "/api/v1/cohorts/idem-import/imports/nominees",
        files={"file": ("nominees.csv", sheet, "text/csv")},
        headers=api.as_("admin") | key,
    )
    assert first.status_code == 200 and first.json()["applied"] == 5, first.text
    again = await api.http.post(
        "/api/v1/cohorts/idem-import/imports/nominees",
        files={"file": ("nominees.csv", sheet, "text/csv")},
        headers=api.as_("admin") | key,
    )
    assert (again.status_code, again.json()) == (200, first.json())  # not "duplicate": the same answer
    unkeyed = await upload(api, "idem-import", "nominees", sheet)
    assert unkeyed["status"] == "duplicate"
    assert (await event_types(store, "idem-import"))["CandidateNominated"] == 5


async def test_a_malformed_key_is_refused_naming_the_header(api: Api) -> None:
    for path, body in (
        ("/api/v1/cohorts/any/fill-place", {"participant_id": "P000001", "reason": "x"}),
        ("/api/v1/cohorts", {"cohort_id": "c1", "programme_id": PROGRAMME.id, "version": 1}),
    ):
        refused = await api.http.post(path, json=body, headers=api.as_("admin") | {"Idempotency-Key": "a.b"})
        answer = assert_problem(refused, 400, path)
        assert str(answer["detail"]).startswith("header Idempotency-Key is not valid: String should match pattern")
        problems = answer["problems"]
        assert isinstance(problems, list) and problems[0]["loc"] == ["header", "Idempotency-Key"]
