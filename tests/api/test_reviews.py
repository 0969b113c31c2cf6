"""A district's annual review through the API: opened once, steered by a reviewer of the prefecture, refused
with the review's own reasons."""

from __future__ import annotations

from datetime import date, timedelta

from temporalio.testing import WorkflowEnvironment

from cohortflow.domain.national_id import mask
from tests.api.conftest import COORDINATED, Api
from tests.api.test_people_reads import CREDITS, PEOPLE, PRINCIPAL, THIS_YEAR, bank_with

DISTRICT = f"{COORDINATED[:4]}04"
REVIEWED = THIS_YEAR - 1
"""The year the shared credits file dates the principal's hours in."""
DEADLINE = (date.today() + timedelta(days=90)).isoformat()


async def test_a_review_is_opened_once_returned_with_reasons_and_approved_into_a_locked_year(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    coordinator = api.as_("coordinator")
    opened = await api.http.post(
        "/api/v1/reviews", json={"district": DISTRICT, "year": REVIEWED, "deadline": DEADLINE}, headers=coordinator
    )
    assert opened.status_code == 201, opened.text
    assert opened.headers["location"] == f"/api/v1/reviews/{DISTRICT}/{REVIEWED}"
    assert [s["school"] for s in opened.json()["schools"]] == ["第一中学"]
    again = await api.http.post(
        "/api/v1/reviews", json={"district": DISTRICT, "year": REVIEWED, "deadline": DEADLINE}, headers=coordinator
    )
    assert again.status_code == 409 and "was opened already" in again.json()["detail"]
    elsewhere = await api.http.post(
        "/api/v1/reviews", json={"district": "990104", "year": REVIEWED, "deadline": DEADLINE}, headers=coordinator
    )
    assert elsewhere.status_code == 404
    later = date.today().year + 2
    for year, deadline, why in [
        (REVIEWED, (date.today() - timedelta(days=2)).isoformat(), "has passed"),
        (later, DEADLINE, f"falls before the year {later} under review"),
    ]:
        late = await api.http.post(
            "/api/v1/reviews", json={"district": DISTRICT, "year": year, "deadline": deadline}, headers=coordinator
        )
        problem = late.json()["problems"][0]
        assert late.status_code == 422 and why in problem["msg"] and problem["loc"] == ["body", "deadline"], late.text

    school = f"/api/v1/reviews/{DISTRICT}/{REVIEWED}/schools/第一中学"
    listed = (await api.http.get(school, headers=coordinator)).json()
    assert (listed["people"], listed["hours"]) == (2, 120)  # the teacher's hours of 2022 and 2023 are not in it
    [entry] = listed["entries"]
    assert (entry["name"], entry["title"], entry["earned_on"]) == ("王校长", "任职资格培训", f"{REVIEWED}-07-15")
    assert entry["national_id"] == mask(PRINCIPAL)
    missing_school = await api.http.get(f"/api/v1/reviews/{DISTRICT}/{REVIEWED}/schools/无此学校", headers=coordinator)
    assert missing_school.status_code == 404
    early = await api.http.post(f"{school}/approve", headers=coordinator)
    assert early.status_code == 409 and "only a submitted list is decided" in early.json()["detail"]
    assert (await api.http.post(f"{school}/submit", headers=coordinator)).status_code == 200
    silent = await api.http.post(f"{school}/return", json={"reasons": []}, headers=coordinator)
    assert silent.status_code == 422 and silent.json()["problems"][0]["loc"] == ["body", "reasons"]
    returned = await api.http.post(f"{school}/return", json={"reasons": ["缺少签到表"]}, headers=coordinator)
    assert returned.status_code == 200, returned.text
    assert returned.json()["schools"][0] | {"decided_by": None} == {
        "school": "第一中学",
        "state": "returned",
        "reasons": ["缺少签到表"],
        "decided_by": None,
    }
    assert (await api.http.post(f"{school}/submit", headers=coordinator)).status_code == 200
    approved = await api.http.post(f"{school}/approve", headers=coordinator)
    assert (approved.json()["locked"], approved.json()["approved_by"]) == (True, "coordinator:coordinator-1")

    read = await api.http.get(f"/api/v1/reviews/{DISTRICT}/{REVIEWED}", headers=api.as_("auditor"))
    assert read.json()["locked"] is True
    missing = await api.http.get(f"/api/v1/reviews/{DISTRICT}/{REVIEWED - 1}", headers=api.as_("auditor"))
    assert missing.status_code == 404


async def test_a_district_without_registered_people_has_no_review_to_open(api: Api) -> None:
    empty = await api.http.post(
        "/api/v1/reviews", json={"district": DISTRICT, "year": REVIEWED, "deadline": DEADLINE}, headers=api.as_("admin")
    )
    assert empty.status_code == 409
    assert empty.json()["detail"] == f"district {DISTRICT} has no registered people, so no schools to review"
