"""The credit bank read through the API: the registry, scoped and masked, and a person's standing against every
rule, as known now and as recorded then, with the source of every hour."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from cohortflow.activities.credit_bank import BankOutcome, CreditReversal, CreditsImport, PeopleImport
from cohortflow.audit.bundle import write_bundle
from cohortflow.domain.national_id import check_char, mask
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.services.credit_bank import credit_bank
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.credit_bank import CreditBankWorkflow
from tests.api.conftest import COORDINATED, Api
from tests.api.test_certificates import run_verifier

PRINCIPAL = "11010119800307123" + check_char("11010119800307123")
TEACHER = "11010119850512234" + check_char("11010119850512234")
ELSEWHERE = "11010119900101345" + check_char("11010119900101345")
THIS_YEAR = datetime.now(PROVINCE_ZONE).year


def upload(uploads: Path, text: str) -> str:
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / digest).write_bytes(data)
    return digest


async def bank_with(env: WorkflowEnvironment, api: Api, people: str, credits: str) -> Any:
    bank = await credit_bank(env.client, api.settings.task_queue)
    uploads = api.settings.uploads
    registered: BankOutcome = await bank.execute_update(
        CreditBankWorkflow.import_people, PeopleImport(digest=upload(uploads, people), filename="people.csv")
    )
    assert registered.status == "applied", registered.problems
    recorded: BankOutcome = await bank.execute_update(
        CreditBankWorkflow.import_credits,
        CreditsImport(digest=upload(uploads, credits), filename="credits.csv", source="school", recorded_by="一中"),
    )
    assert recorded.status == "applied", recorded.problems
    await api.caught_up()
    return bank


PEOPLE = (
    "姓名,身份证号,职务,任职时间,学校,区县代码,市州代码\n"
    f"王校长,{PRINCIPAL},校长,{THIS_YEAR - 1}-09-01,第一中学,{COORDINATED[:4]}04,{COORDINATED}\n"
    f"李老师,{TEACHER},教师,,第一中学,{COORDINATED[:4]}04,{COORDINATED}\n"
    f"赵老师,{ELSEWHERE},教师,,外市中学,990104,990100\n"
)
CREDITS = (
    "身份证号,培训名称,学时,级别,培训类别,结束日期,天数\n"
    f"{TEACHER},二〇二二年暑期研修,200,市级,提高培训,2022-08-20,25\n"
    f"{TEACHER},校本教研,170,校级,校本研修,2023-06-30,40\n"
    f"{PRINCIPAL},任职资格培训,120,省级,任职资格,{THIS_YEAR - 1}-07-15,15\n"
)


async def test_the_registry_is_scoped_to_a_coordinators_prefecture_and_masks_id_numbers(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)

    everyone = (await api.http.get("/api/v1/people", headers=api.as_("auditor"))).json()
    assert sorted(p["national_id"] for p in everyone) == sorted([PRINCIPAL, TEACHER, ELSEWHERE])
    mine = (await api.http.get("/api/v1/people", headers=api.as_("coordinator"))).json()
    assert sorted(p["name"] for p in mine) == ["李老师", "王校长"]
    assert {p["national_id"] for p in mine} == {mask(PRINCIPAL), mask(TEACHER)}

    [elsewhere] = [p for p in everyone if p["national_id"] == ELSEWHERE]
    hidden = await api.http.get(f"/api/v1/people/{elsewhere['person_key']}", headers=api.as_("coordinator"))
    assert hidden.status_code == 404
    for part, found in [("老师", ["李老师", "赵老师"]), ("校", ["王校长"]), ("%", []), ("_", []), ("\\", [])]:
        named = await api.http.get("/api/v1/people", params={"name": part}, headers=api.as_("admin"))
        assert sorted(p["name"] for p in named.json()) == found, part  # a name's part, taken literally
    for number, role, found in [  # an ID number as the role is shown it: masked, or whole for a role that reads it
        (mask(TEACHER), "coordinator", ["李老师"]),
        (mask(ELSEWHERE), "coordinator", []),
        (TEACHER, "auditor", ["李老师"]),
    ]:
        by_id = await api.http.get("/api/v1/people", params={"national_id": number}, headers=api.as_(role))
        assert [p["name"] for p in by_id.json()] == found, (number, role)
    whole = await api.http.get("/api/v1/people", params={"national_id": TEACHER}, headers=api.as_("coordinator"))
    assert whole.status_code == 400 and "search by the masked number" in whole.json()["detail"]
    paged = await api.http.get("/api/v1/people?limit=2", headers=api.as_("admin"))
    assert len(paged.json()) == 2 and 'rel="next"' in paged.headers["link"]
    refused = await api.http.get("/api/v1/people", headers=api.as_("reminder"))
    assert refused.status_code == 403


async def test_hours_dated_back_count_in_their_own_cycle_and_a_reversal_below_the_requirement_says_why(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    bank = await bank_with(time_skipping, api, PEOPLE, CREDITS)
    teacher = next(
        p for p in (await api.http.get("/api/v1/people", headers=api.as_("admin"))).json() if p["name"] == "李老师"
    )
    key = teacher["person_key"]

    then = (await api.http.get(f"/api/v1/people/{key}/standing?as_of=2025-12-31", headers=api.as_("admin"))).json()
    [cycle] = then["rules"]
    assert (cycle["rule_id"], cycle["achieved"], cycle["met"]) == ("teacher-cycle", 370.0, True)
    assert cycle["window"] == ["2021-01-01", "2025-12-31"]
    assert {e["title"] for e in then["entries"]} == {"二〇二二年暑期研修", "校本教研"}
    # As recorded then: on the last day of 2025 none of it had been recorded yet.
    printed = await api.http.get(
        f"/api/v1/people/{key}/standing?as_of=2025-12-31&view=recorded_then", headers=api.as_("admin")
    )
    assert printed.json()["rules"][0]["achieved"] == 0.0

    [summer] = [e for e in then["entries"] if e["hours"] == 200]
    await bank.execute_update(
        CreditBankWorkflow.reverse_credit,
        CreditReversal(person_key=key, entry_id=summer["entry_id"], reason="the course was not attended"),
    )
    await api.caught_up()
    after = (await api.http.get(f"/api/v1/people/{key}/standing?as_of=2025-12-31", headers=api.as_("admin"))).json()
    [cycle] = after["rules"]
    assert (cycle["achieved"], cycle["met"], cycle["missing"]) == (170.0, False, 190.0)
    assert cycle["why"] == (
        "190 hours missing by 2025-12-31: 170 of 360 hours in the cycle 2021–2025; "
        f"200 hours of entry {summer['entry_id']} reversed (the course was not attended)"
    )
    assert after["level_shares"]["school"] == 1.0


async def test_a_new_principals_qualification_progress_and_the_hidden_standing_of_another_prefecture(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    people = (await api.http.get("/api/v1/people", headers=api.as_("coordinator"))).json()
    principal = next(p for p in people if p["name"] == "王校长")
    answer = await api.http.get(
        f"/api/v1/people/{principal['person_key']}/standing?as_of={THIS_YEAR - 1}-12-31", headers=api.as_("coordinator")
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["person"]["national_id"] == mask(PRINCIPAL)
    qualification = next(r for r in body["rules"] if r["rule_id"] == "principal-qualification")
    due = date(THIS_YEAR, 3, 1)
    assert (qualification["achieved"], qualification["missing"]) == (120.0, 180.0)
    assert qualification["why"].startswith(f"180 hours missing by {due}")

    everyone = (await api.http.get("/api/v1/people", headers=api.as_("admin"))).json()
    elsewhere = next(p for p in everyone if p["name"] == "赵老师")
    hidden = await api.http.get(f"/api/v1/people/{elsewhere['person_key']}/standing", headers=api.as_("coordinator"))
    assert hidden.status_code == 404


async def test_the_standing_report_lists_who_is_behind_per_school_in_csv_and_xlsx_with_chinese_headers(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    county = f"{COORDINATED[:4]}04"
    answer = await api.http.get(
        f"/api/v1/reports/standing?county_code={county}&as_of=2025-12-31", headers=api.as_("coordinator")
    )
    report = answer.json()
    [school] = report["schools"]
    assert (school["school"], school["people"], school["behind"]) == ("第一中学", 2, 1)
    assert school["met_by_rule"] == {"teacher-cycle": 1}
    assert school["behind_by_rule"] == {"principal-qualification": 1, "principal-cycle": 1}
    assert school["level_shares"] == {"province": 0.2449, "city": 0.4082, "district": 0.0, "school": 0.3469}
    assert report["level_targets"] == {"province": 0.1, "city": 0.2, "district": 0.2, "school": 0.5}
    assert {(r["name"], r["rule_id"], r["met"]) for r in report["rows"]} == {
        ("李老师", "teacher-cycle", True),
        ("王校长", "principal-qualification", False),
        ("王校长", "principal-cycle", False),
    }
    assert all(r["national_id"] in (mask(PRINCIPAL), mask(TEACHER)) for r in report["rows"])

    behind = await api.http.get(
        "/api/v1/reports/standing?behind_only=true&as_of=2025-12-31&format=csv", headers=api.as_("admin")
    )
    lines = behind.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("市州代码,区县代码,学校,姓名,身份证号,职务,培训要求,计算周期,应完成,已完成,尚缺")
    assert sorted(line.split(",")[3] for line in lines[1:]) == ["王校长", "王校长", "赵老师"]

    xlsx = await api.http.get("/api/v1/reports/standing?as_of=2025-12-31&format=xlsx", headers=api.as_("auditor"))
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True)["培训达标情况"]
    rows = list(sheet.values)
    assert rows[0][:4] == ("市州代码", "区县代码", "学校", "姓名")
    assert {row[3] for row in rows[1:]} == {"王校长", "李老师", "赵老师"}


async def test_external_study_is_recognised_by_a_reviewer_of_its_level_and_counts_toward_the_cycle(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    people = (await api.http.get("/api/v1/people", headers=api.as_("coordinator"))).json()
    key = next(p for p in people if p["name"] == "李老师")["person_key"]
    claim = {"title": "省级网络研修", "hours": 30, "level": "city", "earned_on": "2024-05-01", "days": 5}
    answer = await api.http.post(f"/api/v1/people/{key}/recognitions", json=claim, headers=api.as_("coordinator"))
    assert answer.status_code == 201, answer.text
    claim_id = answer.json()["claim_id"]
    assert answer.json()["unit"] == COORDINATED

    decision = f"/api/v1/people/{key}/recognitions/{claim_id}/decision"
    wrong = await api.http.post(decision, json={"decision": "approved"}, headers=api.as_("admin"))
    assert wrong.status_code == 409 and "not by a province reviewer of province" in wrong.json()["detail"]
    silent = await api.http.post(decision, json={"decision": "refused"}, headers=api.as_("coordinator"))
    assert silent.status_code == 409 and "a refusal says why" in silent.json()["detail"]
    approved = await api.http.post(decision, json={"decision": "approved"}, headers=api.as_("coordinator"))
    assert approved.json() == ["RecognitionDecided", "BankCreditRecorded"]
    twice = await api.http.post(decision, json={"decision": "approved"}, headers=api.as_("coordinator"))
    assert twice.status_code == 409 and "already approved" in twice.json()["detail"]

    await api.caught_up()
    standing = (await api.http.get(f"/api/v1/people/{key}/standing?as_of=2025-12-31", headers=api.as_("admin"))).json()
    assert standing["rules"][0]["achieved"] == 400.0
    assert {e["source"] for e in standing["entries"]} == {"school", "recognised"}


async def test_a_met_cycle_is_certified_once_printed_and_verified_and_an_unmet_one_is_refused(
    api: Api, time_skipping: WorkflowEnvironment, store: EventStore
) -> None:
    await bank_with(time_skipping, api, PEOPLE, CREDITS)
    people = (await api.http.get("/api/v1/people", headers=api.as_("coordinator"))).json()
    teacher = next(p for p in people if p["name"] == "李老师")["person_key"]
    principal = next(p for p in people if p["name"] == "王校长")["person_key"]
    issue = f"/api/v1/people/{teacher}/certificates/teacher-cycle?as_of=2025-12-31"

    first = await api.http.post(issue, headers=api.as_("coordinator"))
    assert first.status_code == 200, first.text
    certificate = first.json()
    assert (certificate["kind"], certificate["cycle"], certificate["credit_hours"]) == (
        "credit_cycle",
        "2021–2025",
        370,
    )
    again = await api.http.post(issue, headers=api.as_("admin"))
    assert again.json()["code"] == certificate["code"]  # one certificate per cycle, ever

    pdf = await api.http.get(f"/api/v1/people/{teacher}/certificates/{certificate['code']}", headers=api.as_("admin"))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "培训学时证书" in text and "2021–2025" in text and certificate["code"] in text
    verified = (await api.http.get(f"/api/v1/certificates/{certificate['code']}")).json()
    assert (verified["kind"], verified["requirement"]) == ("credit_cycle", "教师继续教育 (每五年 360 学时)")

    bundle = api.settings.state_dir / "everything.jsonl"
    await write_bundle(store, bundle, datetime.now(UTC))
    offline = run_verifier(str(bundle), "--certificate", certificate["code"])
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert f"certificate {certificate['code']}: verified" in offline.stdout
    assert "requirement: 教师继续教育 (每五年 360 学时)" in offline.stdout and "cycle: 2021–2025" in offline.stdout

    unmet = await api.http.post(
        f"/api/v1/people/{principal}/certificates/principal-cycle?as_of=2025-12-31", headers=api.as_("coordinator")
    )
    assert unmet.status_code == 409 and "is not met: 240 hours missing" in unmet.json()["detail"]
    wrong = await api.http.post(f"/api/v1/people/{principal}/certificates/teacher-cycle", headers=api.as_("admin"))
    assert wrong.status_code == 409 and "does not apply" in wrong.json()["detail"]
