"""People in the console, in a real browser: the registry searched within the account's scope, a person's
standing and credits, an ID number masked for a coordinator, another prefecture's person not found by URL, and
a role without the registry refused the page."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from cohortflow.activities.credit_bank import BankActivities, CreditsImport, PeopleImport
from cohortflow.domain.national_id import mask
from tests.console.conftest import Console

EXAMPLES = Path(__file__).parents[2] / "examples" / "credit-bank"
PRINCIPAL = "430102197203141234"  # 周建国, 长沙市第一中学 (430100)
COUNTY_430102 = [
    line.split(",")[1] for line in (EXAMPLES / "people.csv").read_text().splitlines() if ",430102," in line
]


async def registered(console: Console, uploads: Path) -> str:
    """The example people and credits files, applied by the credit bank's own activities; 周建国's key."""
    bank, env, now = BankActivities(console.store, uploads), ActivityEnvironment(), datetime.now(UTC)
    digests = {}
    for name in ("people.csv", "school-credits.csv"):
        data = (EXAMPLES / name).read_bytes()
        digests[name] = hashlib.sha256(data).hexdigest()
        shutil.copyfile(EXAMPLES / name, uploads / digests[name])
    people = PeopleImport(digest=digests["people.csv"], filename="people.csv", request_id="p", at=now)
    assert (await env.run(bank.import_people, people)).status == "applied"
    credits = CreditsImport(
        digest=digests["school-credits.csv"], filename="c.csv", recorded_by="长沙市第一中学", request_id="c", at=now
    )
    assert (await env.run(bank.import_bank_credits, credits)).status == "applied"
    return (await console.store.person_keys()).of(PRINCIPAL)


async def test_people_are_found_and_read_within_the_accounts_scope(console: Console, tmp_path: Path) -> None:
    key = await registered(console, tmp_path)
    coordinator = await console.signed_in("changsha")
    await coordinator.click("#nav-people")
    await coordinator.fill("#name", "周")
    await coordinator.click("#search button")
    await coordinator.wait_for_selector("#people td a")  # the read models catch up within moments
    rows = await coordinator.eval_on_selector_all(
        "#people tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    assert rows == [["周建国", mask(PRINCIPAL), "长沙市第一中学", "430102", "校长"]]
    await coordinator.fill("#name", "")
    await coordinator.fill("#national-id", mask(PRINCIPAL))  # the number as a coordinator is shown it
    await coordinator.click("#search button")
    found = await coordinator.eval_on_selector_all(
        "#people tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText])"
    )
    assert ["周建国", mask(PRINCIPAL)] in found and {number for _, number in found} == {mask(PRINCIPAL)}
    assert "陈志强" not in {name for name, _ in found}  # the same division code, another check character
    await coordinator.fill("#national-id", PRINCIPAL)  # a whole number is not a coordinator's to search by
    await coordinator.click("#search button")
    assert await coordinator.is_visible("#national-id-problem")
    await coordinator.goto(f"{console.address}/console/people?name=周&national_id={mask(PRINCIPAL)}")
    await coordinator.click("#people td a")
    assert await coordinator.text_content("#person") == "周建国"
    rules = await coordinator.eval_on_selector_all(
        "#rules tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[6].innerText])"
    )
    assert rules  # a serving principal is judged against the rules that apply to principals
    whys = [why for _, why in rules]  # each standing said in Chinese: met, or what is missing by when
    assert all(why.startswith("已达到：") or why.startswith("截至 ") for why in whys), whys
    assert not any("hours" in why or "days" in why for why in whys), whys
    entries = await coordinator.eval_on_selector_all(
        "#entries tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[2].innerText])"
    )
    assert sorted(entries) == [["学校发展规划专题研修", "24.0"], ["长沙市校长任职资格培训", "120.0"]]

    elsewhere = await console.signed_in("coordinator")  # of another prefecture
    answer = await elsewhere.goto(f"{console.address}/console/people/{key}")
    assert answer is not None and answer.status == 404
    await elsewhere.goto(f"{console.address}/console/people?name=周")
    assert (await elsewhere.text_content("#people tbody") or "").strip() == "没有符合条件的人员。"

    admin = await console.signed_in("admin")
    await admin.goto(f"{console.address}/console/people/{key}")
    assert PRINCIPAL in (await admin.text_content("main") or "")  # an administrator reads whole ID numbers

    reminders = await console.signed_in("reminders")
    assert not await reminders.is_visible("#nav-people")
    refused = await reminders.goto(f"{console.address}/console/people")
    assert refused is not None and refused.status == 403
    assert all(url.startswith(console.address) for url in console.requested)


async def test_a_coordinator_sees_who_in_a_county_is_behind(console: Console, tmp_path: Path) -> None:
    await registered(console, tmp_path)
    coordinator = await console.signed_in("changsha")
    await coordinator.click("#behind-link")
    await coordinator.fill("#county", "430202")  # a county of another prefecture
    await coordinator.click("#unit-submit")
    assert await coordinator.text_content("#county-problem") == "请填写本市州内区县的六位代码。"
    await coordinator.fill("#county", "430102")
    await coordinator.click("#unit-submit")
    schools = await coordinator.eval_on_selector_all(
        "#schools tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    assert [school for school, _, _ in schools] == ["长沙市第一中学"]
    rows = await coordinator.eval_on_selector_all(
        "#behind tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    assert rows and all(float(row[6]) > 0 for row in rows)  # each row a rule missed, by how much
    assert all(row[7].startswith("截至 ") and "尚缺" in row[7] for row in rows), rows  # and why, in Chinese
    assert {row[1] for row in rows} <= {mask(number) for number in COUNTY_430102}  # masked for a coordinator
    assert int(schools[0][2]) == len({row[0] for row in rows})
    assert all(url.startswith(console.address) for url in console.requested)
