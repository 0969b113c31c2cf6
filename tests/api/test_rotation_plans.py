"""A rotation plan through the API: a cohort a year, and nobody enrolled in two of its cohorts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.nomination import NomineeRow
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.workflows.helpers import event_types, wait_for_status

EXAMPLES = Path(__file__).parents[2] / "examples"
PLAN = {
    "plan_id": "rot",
    "name": "校长轮训",
    "programme_id": PROGRAMME.id,
    "version": 1,
    "first_year": 2026,
    "years": 2,
}


def roster_csv(people: list[NomineeRow]) -> bytes:
    rows = "".join(f"{p.name},{p.national_id},{p.prefecture_code}\n" for p in people)
    return ("姓名,身份证号,区县代码\n" + rows).encode("gb18030")


async def upload_roster(api: Api, content: bytes) -> dict:  # type: ignore[type-arg]
    response = await api.http.post(
        "/api/v1/plans/rot/roster", files={"file": ("名册.csv", content, "text/csv")}, headers=api.as_("admin")
    )
    return {**response.json(), "http_status": response.status_code}


@pytest.mark.slow
async def test_a_plan_starts_a_cohort_a_year_and_refuses_anyone_enrolled_in_another(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    started = await api.http.post("/api/v1/plans", json=PLAN, headers=api.as_("admin"))
    assert started.status_code == 201, started.text
    assert started.json()["planned"] == ["rot-2026", "rot-2027"]
    again = await api.http.post("/api/v1/plans", json=PLAN, headers=api.as_("admin"))
    assert again.status_code == 409 and again.json()["detail"] == "rotation plan rot already exists"
    solo = {"cohort_id": "solo-2027", "programme_id": PROGRAMME.id, "version": 1}
    assert (await api.http.post("/api/v1/cohorts", json=solo, headers=api.as_("admin"))).status_code == 201
    await wait_for_status(time_skipping.client, "cohort-solo-2027", lambda s: s.phase == "nomination")
    taken = await api.http.post("/api/v1/plans", json={**PLAN, "plan_id": "solo"}, headers=api.as_("admin"))
    assert taken.status_code == 409
    assert taken.json()["detail"] == "cohort solo-2027, which the plan would start, already exists"
    assert (await api.http.post("/api/v1/plans", json=PLAN, headers=api.as_("coordinator"))).status_code == 403

    await wait_for_status(time_skipping.client, "cohort-rot-2026", lambda s: s.phase == "nomination")
    people = nominees(PROGRAMME, seed=21)
    first, later = people[:10], people[10:20]

    bad_id = first[0].national_id[:-1] + ("0" if first[0].national_id[-1] != "0" else "1")
    strays = [
        NomineeRow(**{**vars(first[0]), "national_id": bad_id}),
        NomineeRow(**{**vars(first[1]), "prefecture_code": "999999"}),
    ]
    refused_roster = await upload_roster(api, roster_csv(strays))
    assert refused_roster["http_status"] == 422
    assert refused_roster["problems"] == [
        f"row 2, national_id: check digit is {bad_id[-1]}, expected {first[0].national_id[-1]}",
        "row 3, prefecture_code: '999999' is not a prefecture of the programme",
    ]
    roster = roster_csv([*first, *later[:8]])
    assert (await upload_roster(api, roster))["applied"] == 18
    assert (await upload_roster(api, roster))["status"] == "duplicate"
    assert (await upload(api, "rot-2026", "nominees", nominee_csv(first)))["applied"] == 10
    status = (await api.http.get("/api/v1/plans/rot", headers=api.as_("auditor"))).json()
    assert status == {
        "plan_id": "rot",
        "started": ["rot-2026"],
        "planned": ["rot-2026", "rot-2027"],
        "coverage": {"roster": 18, "enrolled": 10, "not_yet_enrolled": 8},
    }

    withdrawn = await api.http.post(
        "/api/v1/cohorts/rot-2026/withdrawals",
        json={"participant_id": first[1].participant_id, "reason": "调离校长岗位"},
        headers=api.as_("admin"),
    )
    assert withdrawn.status_code == 200, withdrawn.text

    await time_skipping.sleep(timedelta(days=365))
    await wait_for_status(time_skipping.client, "cohort-rot-2027", lambda s: s.phase == "nomination")
    assert (await api.http.get("/api/v1/plans/rot", headers=api.as_("admin"))).json()["started"] == [
        "rot-2026",
        "rot-2027",
    ]

    # The same two people again, under this cohort's own participant ids.
    returning = [NomineeRow(**{**vars(p), "participant_id": f"R{i}"}) for i, p in enumerate(first[:2])]
    refused = await upload(api, "rot-2027", "nominees", nominee_csv([*later, *returning]))
    assert refused["http_status"] == 422

    def masked(p: NomineeRow) -> str:
        return p.national_id[:6] + "*" * 11 + p.national_id[-1]

    assert refused["problems"] == [
        f"row 10, national_id: {masked(later[8])} is not on the roster of rotation plan rot",
        f"row 11, national_id: {masked(later[9])} is not on the roster of rotation plan rot",
        f"row 12, national_id: {masked(first[0])} is already enrolled in cohort rot-2026 of this rotation plan",
    ]
    assert (await event_types(store, "rot-2027"))["CandidateNominated"] == 0

    # Someone withdrawn from the earlier cohort is not enrolled in it: they may come in a later year.
    applied = await upload(api, "rot-2027", "nominees", nominee_csv([*later[:7], returning[1]]))
    assert applied["status"] == "applied" and applied["applied"] == 8
    coverage = (await api.http.get("/api/v1/plans/rot", headers=api.as_("admin"))).json()["coverage"]
    assert coverage == {"roster": 18, "enrolled": 17, "not_yet_enrolled": 1}

    unknown = await api.http.get("/api/v1/plans/nope", headers=api.as_("admin"))
    assert unknown.status_code == 404


async def test_a_programme_whose_digests_a_plan_could_not_schedule_is_refused(api: Api) -> None:
    with_digests = sample_programme(120, 20, digests=True)
    await submit(api, with_digests.model_dump(mode="json"))
    refused = await api.http.post("/api/v1/plans", json={**PLAN, "plan_id": "digests"}, headers=api.as_("admin"))
    assert refused.status_code == 409
    assert refused.json()["detail"] == "a programme with weekly coordinator digests cannot run in a rotation plan"
    assert (await api.http.get("/api/v1/plans/digests", headers=api.as_("admin"))).status_code == 404


@pytest.mark.slow
async def test_a_plan_of_a_block_template_runs_its_cohorts_as_blocks_and_enrols_nobody_twice(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    placement = EXAMPLES / "programmes" / "placement.yaml"
    submitted = await api.http.post(
        "/api/v1/programmes",
        content=placement.read_bytes(),
        headers={**api.as_("admin"), "content-type": "application/yaml"},
    )
    assert submitted.status_code == 201, submitted.text
    plan = {**PLAN, "plan_id": "fr", "programme_id": "district-principal-placement"}
    started = await api.http.post("/api/v1/plans", json=plan, headers=api.as_("admin"))
    assert started.status_code == 201, started.text

    async def open_blocks(cohort: str) -> list[str]:
        for _ in range(400):
            answer = await api.http.get(f"/api/v1/cohorts/{cohort}/status", headers=api.as_("admin"))
            if answer.status_code == 200 and answer.json().get("open_blocks"):
                return [b["code"] for b in answer.json()["open_blocks"]]
            await asyncio.sleep(0.05)
        raise AssertionError(f"cohort {cohort} never opened a block")

    assert await open_blocks("fr-2026") == ["enrolment"]
    people = (EXAMPLES / "imports" / "placement" / "nominees.csv").read_bytes()
    assert (await upload(api, "fr-2026", "nominees", people))["applied"] == 20

    await time_skipping.sleep(timedelta(days=365))
    assert await open_blocks("fr-2027") == ["enrolment"]
    again = await upload(api, "fr-2027", "nominees", people)
    assert again["http_status"] == 422 and again["problem_count"] == 20
    assert again["problems"][0].endswith("is already enrolled in cohort fr-2026 of this rotation plan")
    assert (await event_types(store, "fr-2026"))["CohortCompleted"] == 1  # the first year ran to its end
