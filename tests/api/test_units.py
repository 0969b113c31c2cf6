"""A school's token and a district reviewer's, through the API: each sees and changes its own people only, a
school records its own school-level credits and submits its own list, a reviewer decides its county's review and
district-level recognition."""

from __future__ import annotations

import hashlib

from temporalio.testing import WorkflowEnvironment

from tests.access.units import SCHOOL, county_in
from tests.api.conftest import COORDINATED, Api
from tests.api.test_people_reads import CREDITS, PEOPLE, TEACHER, bank_with

COUNTY = county_in(COORDINATED)


async def upload_credits(api: Api, text: str, role: str, recorded_by: str = SCHOOL) -> tuple[int, dict[str, object]]:
    answer = await api.http.post(
        f"/api/v1/credit-bank/imports?source=school&recorded_by={recorded_by}",
        files={"file": ("credits.csv", text.encode(), "text/csv")},
        headers={**api.as_(role), "Idempotency-Key": hashlib.sha256(text.encode()).hexdigest()[:32]},
    )
    return answer.status_code, answer.json()


async def test_a_school_sees_and_credits_its_own_staff_only(api: Api, time_skipping: WorkflowEnvironment) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    staff = (await api.http.get("/api/v1/people", headers=api.as_("school"))).json()
    assert sorted(p["name"] for p in staff) == ["李老师", "王校长"]
    everyone = (await api.http.get("/api/v1/people", headers=api.as_("admin"))).json()
    elsewhere = next(p for p in everyone if p["name"] == "赵老师")
    hidden = await api.http.get(f"/api/v1/people/{elsewhere['person_key']}/standing", headers=api.as_("school"))
    assert hidden.status_code == 404

    header = "身份证号,培训名称,学时,级别,结束日期\n"
    status, outcome = await upload_credits(api, f"{header}{TEACHER},校本教研,6,校级,2026-03-01\n", "school")
    assert (status, outcome["status"], outcome["recorded"]) == (200, "applied", 1)
    other = next(line.split(",")[1] for line in PEOPLE.splitlines() if line.startswith("赵老师"))
    status, refused = await upload_credits(api, f"{header}{other},校本教研,6,校级,2026-03-01\n", "school")
    assert status == 422 and refused["problems"] == [
        f"row 2, national_id: the person is registered outside your school {SCHOOL}"
    ]
    status, wrong = await upload_credits(api, f"{header}{TEACHER},校本教研,6,校级,2026-03-02\n", "school", "二中")
    assert status == 400 and "records its own school's credits" in str(wrong["detail"])
    forbidden = await api.http.post("/api/v1/people/imports", headers=api.as_("school"))
    assert forbidden.status_code == 403

    await api.caught_up()
    key = next(p for p in staff if p["name"] == "李老师")["person_key"]
    entries = (await api.http.get(f"/api/v1/people/{key}/standing", headers=api.as_("school"))).json()["entries"]
    by_day = {e["earned_on"]: e["entry_id"] for e in entries}
    reversals = f"/api/v1/people/{key}/reversals"
    own = {"entry_id": by_day["2026-03-01"], "reason": "重复录入"}
    assert (await api.http.post(reversals, json=own, headers=api.as_("school"))).status_code == 200
    others = {"entry_id": by_day["2023-06-30"], "reason": "重复录入"}  # recorded by 一中, not by this school's token
    refused_undo = await api.http.post(reversals, json=others, headers=api.as_("school"))
    assert refused_undo.status_code == 409
    assert "a school reverses only the school-level entries it recorded" in refused_undo.json()["detail"]


async def test_a_school_submits_its_list_and_its_district_reviewer_decides_it(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    body = {"district": COUNTY, "year": 2025, "deadline": "2027-03-31"}
    assert (await api.http.post("/api/v1/reviews", json=body, headers=api.as_("school"))).status_code == 403
    opened = await api.http.post("/api/v1/reviews", json=body, headers=api.as_("reviewer"))
    assert opened.status_code == 201, opened.text
    other = {"district": "990104", "year": 2025, "deadline": "2027-03-31"}
    assert (await api.http.post("/api/v1/reviews", json=other, headers=api.as_("reviewer"))).status_code == 404

    school = f"/api/v1/reviews/{COUNTY}/2025/schools/{SCHOOL}"
    assert (await api.http.post(f"{school}/approve", headers=api.as_("school"))).status_code == 403
    assert (await api.http.post(f"{school}/submit", headers=api.as_("school"))).status_code == 200
    foreign = await api.http.post(f"/api/v1/reviews/{COUNTY}/2025/schools/二中/submit", headers=api.as_("school"))
    assert foreign.status_code == 404
    own_list = await api.http.get(school, headers=api.as_("school"))
    assert own_list.status_code == 200 and own_list.json()["people"] == 2
    assert (
        await api.http.get(f"/api/v1/reviews/{COUNTY}/2025/schools/二中", headers=api.as_("school"))
    ).status_code == 404
    approved = await api.http.post(f"{school}/approve", headers=api.as_("reviewer"))
    assert approved.json()["locked"] is True and approved.json()["approved_by"] == "reviewer:reviewer-1"


async def test_recognition_is_decided_at_the_school_and_district_levels_by_their_own_tokens(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    staff = (await api.http.get("/api/v1/people", headers=api.as_("school"))).json()
    key = next(p for p in staff if p["name"] == "李老师")["person_key"]
    decided = {}
    for level, role in (("school", "school"), ("district", "reviewer")):
        claim = {"title": f"{level} 研修", "hours": 6, "level": level, "earned_on": "2026-03-01"}
        made = await api.http.post(f"/api/v1/people/{key}/recognitions", json=claim, headers=api.as_("coordinator"))
        decision = f"/api/v1/people/{key}/recognitions/{made.json()['claim_id']}/decision"
        wrong = "reviewer" if role == "school" else "school"
        refused = await api.http.post(decision, json={"decision": "approved"}, headers=api.as_(wrong))
        assert refused.status_code == 409 and "are decided by its own reviewers" in refused.json()["detail"]
        decided[level] = (await api.http.post(decision, json={"decision": "approved"}, headers=api.as_(role))).json()
    assert decided == {level: ["RecognitionDecided", "BankCreditRecorded"] for level in ("school", "district")}
