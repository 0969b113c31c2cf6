"""The credit bank's files from the console, in a real browser against a real worker and time-skipping server:
a people file registers its people, a credits file with a bad row shows the problem and records nothing, the good
file records every entry with the signed-in account as the actor, and a role that records nothing is refused."""

from __future__ import annotations

from pathlib import Path

from cohortflow.domain.credit_bank.registry import person_stream
from tests.console.conftest import Console

EXAMPLES = Path(__file__).parents[2] / "examples" / "credit-bank"
PRINCIPAL = "430102197203141234"  # 周建国, with two entries in the school's credits file


async def test_an_administrator_registers_people_and_records_a_schools_credits(
    steering_console: Console, tmp_path: Path
) -> None:
    console = steering_console
    admin = await console.signed_in("admin")
    await admin.click("#nav-bank-imports")
    await admin.select_option("#kind", "people")
    await admin.set_input_files("#file", str(EXAMPLES / "people.csv"))
    await admin.click("#upload-submit")
    await admin.wait_for_selector("#outcome")
    assert (await admin.text_content("#outcome") or "").startswith("已应用 10 行：新登记 10 人")

    bad = tmp_path / "credits.csv"
    good = (EXAMPLES / "school-credits.csv").read_text(encoding="utf-8")
    bad.write_text(
        good.replace(PRINCIPAL + ",周建国,长沙市校长任职资格培训,120", PRINCIPAL + ",周建国,长沙市校长任职资格培训,-5")
    )
    await admin.select_option("#kind", "credits")
    await admin.fill("#recorded-by", "")
    await admin.set_input_files("#file", str(bad))
    await admin.click("#upload-submit")  # no recording unit: refused beside the field, the file not sent
    assert await admin.text_content("#recorded-by-problem") == "此项必填。"
    await admin.fill("#recorded-by", "长沙市第一中学")
    await admin.set_input_files("#file", str(bad))
    await admin.click("#upload-submit")
    await admin.wait_for_selector("#problems")
    assert "未应用任何数据" in (await admin.text_content("#outcome") or "")
    problems = await admin.eval_on_selector_all("#problems td", "cells => cells.map(c => c.innerText)")
    assert len(problems) == 1 and problems[0].startswith("第 2 行")
    key = (await console.store.person_keys()).of(PRINCIPAL)
    recorded = [e async for e in console.store.read_stream(person_stream(key), types=["BankCreditRecorded"])]
    assert recorded == []  # one bad row: nothing of the file applied

    await admin.select_option("#kind", "credits")
    await admin.set_input_files("#file", str(EXAMPLES / "school-credits.csv"))
    await admin.click("#upload-submit")
    await admin.wait_for_selector("#outcome:has-text('记录学时')")  # the page is replaced once the file is in
    assert "记录学时 7 条" in (await admin.text_content("#outcome") or "")
    recorded = [e async for e in console.store.read_stream(person_stream(key), types=["BankCreditRecorded"])]
    assert len(recorded) == 2 and {e.metadata["actor"] for e in recorded} == {"admin:admin"}

    auditor = await console.signed_in("auditor")  # records nothing
    assert not await auditor.is_visible("#nav-bank-imports")
    refused = await auditor.goto(f"{console.address}/console/credit-bank/imports")
    assert refused is not None and refused.status == 403
    assert all(url.startswith(console.address) for url in console.requested)
