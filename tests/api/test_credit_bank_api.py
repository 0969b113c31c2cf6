"""The credit bank's write routes against the real app, store, worker and time-skipping server: the example
files imported, bad files refused whole with their rows named, a coordinator held to their prefecture,
corrections and reversals (a second reversal refused), and empty reasons refused before anything is sent."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from cohortflow.domain.credit_bank.registry import person_stream
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import COORDINATED, Api

EXAMPLES = Path(__file__).parents[2] / "examples" / "credit-bank"
PEOPLE = EXAMPLES / "people.csv"
CREDITS = EXAMPLES / "school-credits.csv"
REVERSALS = EXAMPLES / "reversals.csv"
PRINCIPAL = "430102197203141234"  # 周建国, 长沙市第一中学, in both example files
ELSEWHERE = "430202198002022335"  # registered by an admin in 株洲市 (430200)


def sheet(name: str, data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "text/csv")}


async def upload(api: Api, path: str, data: bytes, role: str = "admin", **params: str) -> httpx.Response:
    return await api.http.post(path, files=sheet("file.csv", data), params=params, headers=api.as_(role))


async def people(api: Api, data: bytes, role: str = "admin", **params: str) -> httpx.Response:
    return await upload(api, "/api/v1/people/imports", data, role, **params)


async def credits(api: Api, data: bytes, role: str = "admin") -> httpx.Response:
    params = {"source": "school", "recorded_by": "长沙市第一中学"}
    return await upload(api, "/api/v1/credit-bank/imports", data, role, **params)


async def types(store: EventStore, national_id: str) -> Counter[str]:
    key = (await store.person_keys()).of(national_id)
    return Counter([e.type async for e in store.read_stream(person_stream(key))])


async def entries(store: EventStore, national_id: str) -> list[dict[str, Any]]:
    key = (await store.person_keys()).of(national_id)
    return [e.data async for e in store.read_stream(person_stream(key), types=["BankCreditRecorded"])]


async def test_the_example_files_are_imported_and_a_second_credits_import_is_refused(
    api: Api, store: EventStore
) -> None:
    registered = await people(api, PEOPLE.read_bytes())
    assert registered.status_code == 200, registered.text
    assert registered.json() == {
        "status": "applied",
        "rows": 10,
        "registered": 10,
        "corrected": 0,
        "unchanged": 0,
        "recorded": 0,
        "reversed": 0,
        "problems": [],
        "problem_count": 0,
    }
    recorded = await credits(api, CREDITS.read_bytes())
    assert recorded.status_code == 200, recorded.text
    assert (recorded.json()["status"], recorded.json()["recorded"]) == ("applied", 7)
    assert await types(store, PRINCIPAL) == Counter({"PersonRegistered": 1, "BankCreditRecorded": 2})

    again = await credits(api, CREDITS.read_bytes())
    assert again.status_code == 422, again.text
    assert again.json()["outcome"] == "refused"
    assert again.json()["problems"][0].startswith("this file was recorded already, on ")
    assert again.json()["problems"][0].endswith(" by admin:admin-1; nothing was applied again")


async def test_a_file_with_bad_rows_is_refused_naming_each_row_and_nothing_is_applied(
    api: Api, store: EventStore
) -> None:
    lines = PEOPLE.read_text().splitlines()
    lines[3] = lines[3].replace("副校长", "主任")
    lines[6] = lines[6].replace("430104197504305178", "430104197504305179")
    refused = await people(api, ("\n".join(lines) + "\n").encode())
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert (body["outcome"], body["registered"], body["detail"]) == (
        "refused",
        0,
        "the file was refused (2 problems); nothing was applied",
    )
    assert [p.split(",")[0] for p in body["problems"]] == ["row 4", "row 7"], body["problems"]
    assert "'主任' is not one of" in body["problems"][0]
    assert await types(store, PRINCIPAL) == Counter()


async def test_a_coordinator_changes_only_people_of_their_prefecture(api: Api, store: EventStore) -> None:
    assert COORDINATED == "430100"  # the example files' prefecture
    outsider = f"孙强,{ELSEWHERE},教师,,株洲市第二中学,430202,430200,初中,历史\n".encode()
    mixed = PEOPLE.read_bytes() + outsider
    refused = await people(api, mixed, "coordinator")
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"] == ["row 12, prefecture_code: 430200 is outside your prefecture 430100"]
    assert await types(store, PRINCIPAL) == Counter()

    assert (await people(api, PEOPLE.read_bytes(), "coordinator")).status_code == 200
    assert (await people(api, PEOPLE.read_bytes().splitlines(keepends=True)[0] + outsider)).status_code == 200
    theirs = f"身份证号,姓名,培训名称,学时,级别,结束日期\n{ELSEWHERE},孙强,校本教研,6,校级,2024-05-10\n".encode()
    refused = await credits(api, theirs, "coordinator")
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"] == ["row 2, national_id: the person is registered outside your prefecture 430100"]
    key = (await store.person_keys()).of(ELSEWHERE)
    moved = await api.http.post(
        f"/api/v1/people/{key}/corrections",
        json={"field": "school", "value": "长沙市第一中学", "reason": "transferred"},
        headers=api.as_("coordinator"),
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["detail"].endswith("the person is registered outside your prefecture 430100")
    assert (await credits(api, CREDITS.read_bytes(), "coordinator")).status_code == 200


async def test_corrections_and_reversals_with_their_refusals(api: Api, store: EventStore) -> None:
    assert (await people(api, PEOPLE.read_bytes())).status_code == 200
    assert (await credits(api, CREDITS.read_bytes())).status_code == 200
    key = (await store.person_keys()).of(PRINCIPAL)
    corrections = f"/api/v1/people/{key}/corrections"

    moved = {"field": "school", "value": "长沙市第二中学", "reason": "transferred in September"}
    corrected = await api.http.post(corrections, json=moved, headers=api.as_("admin"))
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["school"], corrected.json()["national_id"]) == ("长沙市第二中学", PRINCIPAL)
    back = {"field": "school", "value": "长沙市第一中学", "reason": "the transfer was cancelled"}
    masked = await api.http.post(corrections, json=back, headers=api.as_("coordinator"))
    assert masked.status_code == 200, masked.text
    assert (masked.json()["national_id"], masked.json()["person_key"]) == ("430102***********4", key)
    unchanged = await api.http.post(corrections, json=back, headers=api.as_("admin"))
    assert unchanged.status_code == 409 and "already" in unchanged.json()["detail"], unchanged.text

    [first, _] = await entries(store, PRINCIPAL)
    reversals = f"/api/v1/people/{key}/reversals"
    undo = {"entry_id": first["entry_id"], "reason": "recorded twice"}
    reversed_ = await api.http.post(reversals, json=undo, headers=api.as_("coordinator"))
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json() | {"entry_id": ""} == {
        "entry_id": "",
        "reverses": first["entry_id"],
        "cohort_id": None,
        "hours": 120.0,
    }
    twice = await api.http.post(reversals, json=undo, headers=api.as_("admin"))
    assert twice.status_code == 409, twice.text
    assert twice.json()["detail"].endswith(f"already reversed by {reversed_.json()['entry_id']}")

    for path, body in ((corrections, moved), (reversals, undo)):
        empty = await api.http.post(path, json=body | {"reason": "  "}, headers=api.as_("admin"))
        assert empty.status_code == 422, empty.text
        assert [p["loc"] for p in empty.json()["problems"]] == [["body", "reason"]]
    assert await types(store, PRINCIPAL) == Counter(
        {"PersonRegistered": 1, "PersonCorrected": 2, "BankCreditRecorded": 2, "BankCreditReversed": 1}
    )


async def reversals(api: Api, data: bytes, role: str = "admin") -> httpx.Response:
    return await upload(api, "/api/v1/credit-bank/reversals/imports", data, role)


async def test_a_reversals_file_is_applied_whole_or_refused_whole_naming_each_row(api: Api, store: EventStore) -> None:
    assert (await people(api, PEOPLE.read_bytes())).status_code == 200
    assert (await credits(api, CREDITS.read_bytes())).status_code == 200
    good = REVERSALS.read_bytes()
    extra = [
        "430102197203141234,周建国,school-nothing-9,,x,",
        "430102199109272384,,school-fa3e4860ecec72ba-8,,又一次,",
    ]
    bad = good + "".join(f"{line}\n" for line in extra).encode()
    refused = await reversals(api, bad)
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"] == [
        "row 4: school-nothing-9: no such credit entry for this person",
        "row 5: school-fa3e4860ecec72ba-8: already reversed by reversal-"
        + f"{hashlib.sha256(bad).hexdigest()[:16]}-3 (in this file)",
    ]
    assert await types(store, "430102199109272384") == Counter({"PersonRegistered": 1, "BankCreditRecorded": 1})

    applied = await reversals(api, good, "coordinator")
    assert applied.status_code == 200, applied.text
    assert (applied.json()["status"], applied.json()["rows"], applied.json()["reversed"]) == ("applied", 2, 2)
    assert await types(store, "430102199109272384") == Counter(
        {"PersonRegistered": 1, "BankCreditRecorded": 1, "BankCreditReversed": 1}
    )
    again = await reversals(api, good)
    assert again.status_code == 422 and "this file was recorded already" in again.json()["problems"][0], again.text
    key = (await store.person_keys()).of("430102199109272384")
    await api.caught_up()
    standing = (await api.http.get(f"/api/v1/people/{key}/standing", headers=api.as_("admin"))).json()
    reversed_entry = next(e for e in standing["entries"] if e["reverses"] == "school-fa3e4860ecec72ba-8")
    assert (reversed_entry["hours"], reversed_entry["reason"]) == (-18.0, "签到表无此人记录")


async def test_the_bank_routes_need_their_permissions(api: Api) -> None:
    refused = await people(api, PEOPLE.read_bytes(), "auditor")
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "role auditor may not people:write"
    refused = await credits(api, CREDITS.read_bytes(), "reminder")
    assert refused.json()["detail"] == "role reminder may not credits:write"


async def test_a_file_that_is_not_a_bank_file_is_refused_at_once(api: Api) -> None:
    refused = await people(api, b"participant_id\nP1\n")
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert problem.startswith("The header row (row 1) has problems:"), problem
    assert refused.json()["problem_count"] == 1


async def test_credits_need_the_unit_that_recorded_them(api: Api) -> None:
    for unit in ("", "   "):
        params = {"source": "school", "recorded_by": unit}
        refused = await upload(api, "/api/v1/credit-bank/imports", CREDITS.read_bytes(), **params)
        assert refused.status_code == 400, refused.text
        assert [p["loc"] for p in refused.json()["problems"]] == [["query", "recorded_by"]]
