"""Programmes in the console, in a real browser against a real store: an invalid template shows every problem at
once and records nothing; a valid file reads as a timeline; two recorded versions compare to the changed value; the
same version again records nothing new; a role without ``programmes:write`` reads but may not record."""

from __future__ import annotations

from pathlib import Path

import yaml
from playwright.async_api import Page

from cohortflow.domain.template import parse_any
from cohortflow.services import programmes
from tests.console.conftest import Console

EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"
PLACEMENT = EXAMPLES / "placement.yaml"
GUOPEI, GUOPEI_V2 = EXAMPLES / "guopei-party-secretary.yaml", EXAMPLES / "guopei-party-secretary-v2.yaml"
CELLS = "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"


async def recorded(console: Console) -> list[tuple[str, int, str]]:
    return [
        (e.data["programme_id"], e.data["version"], e.metadata["actor"])
        async for e in console.store.read_stream(programmes.STREAM)
    ]


async def submitted(page: Page, file: Path, button: str = "#record") -> None:
    await page.set_input_files("#file", str(file))
    await page.click(button)


async def test_an_administrator_checks_records_and_compares_versions(console: Console, tmp_path: Path) -> None:
    admin = await console.signed_in("admin")
    await admin.click("#nav-programmes")
    await admin.click("#new-version")
    broken = (
        PLACEMENT.read_text(encoding="utf-8")
        .replace("    quota: 20\n", "    quota: 25\n")
        .replace("requires: [placement, report-back]", "requires: [placement, nowhere]")
    )
    await admin.fill("#text", broken)
    await admin.click("#record")
    await admin.wait_for_selector("#problems")
    problems = await admin.eval_on_selector_all("#problems tbody tr", CELLS)
    assert len(problems) == 4  # every problem at once, each with where it is
    # said in Chinese, each split into where it is and why
    assert ["培养类别 principals", "各市州名额合计 20，但培养类别的名额为 25"] in problems
    assert ["模块 completion（completion）", "requires 列出了未知模块 'nowhere'"] in problems
    assert await admin.input_value("#text") == broken  # kept, to be corrected
    assert await recorded(console) == []

    notes = tmp_path / "programme.txt"
    notes.write_text("id: x", encoding="utf-8")
    await submitted(admin, notes, "#check")
    assert "YAML" in (await admin.text_content("#problem") or "")

    await submitted(admin, PLACEMENT, "#check")  # checked only: its timeline, nothing recorded
    await admin.wait_for_selector("#valid")
    codes = await admin.eval_on_selector_all("#timeline > li", "items => items.map(i => i.dataset.code)")
    assert codes == ["enrolment", "placement", "report-back", "follow-up", "completion"]
    assert await recorded(console) == []

    await submitted(admin, GUOPEI)
    await admin.wait_for_url("**/console/programmes/guopei-party-secretary/versions/1?notice=recorded")
    assert await admin.text_content("#notice") == "已登记为第 1 版。"
    phases = await admin.eval_on_selector_all("#timeline .kind", "kinds => kinds.map(k => k.innerText)")
    assert phases == ["推荐报名", "网络研修", "遴选", "跟岗实践", "返岗实践", "跟踪调查", "结业"]

    for attempt in ("recorded", "unchanged"):  # the same version again is recorded once
        await admin.goto(f"{console.address}/console/programmes/new")
        await submitted(admin, GUOPEI_V2)
        await admin.wait_for_url(f"**/versions/2?notice={attempt}")
    assert await recorded(console) == [("guopei-party-secretary", v, "admin:admin") for v in (1, 2)]

    await admin.select_option("#old", "1")
    await admin.select_option("#new", "2")
    await admin.click("#compare-submit")
    changes = await admin.eval_on_selector_all("#changes tbody tr", CELLS)
    assert ["修改", "selection › hours_cap", "200.0", "160.0"] in changes
    await admin.click("#language")
    assert "Changes from version 1 to version 2" in (await admin.text_content("#programme") or "")
    assert ["replace", "selection › hours_cap", "200.0", "160.0"] in await admin.eval_on_selector_all(
        "#changes tbody tr", CELLS
    )
    await admin.click("#nav-programmes")
    versions = await admin.eval_on_selector_all(".versions tbody tr", "rows => rows.map(r => r.cells[0].innerText)")
    assert versions == ["Version 2", "Version 1"]
    assert all(url.startswith(console.address) for url in console.requested)


async def test_a_reader_sees_the_timeline_but_may_not_record(console: Console) -> None:
    template = parse_any(yaml.safe_load(PLACEMENT.read_text(encoding="utf-8")))
    await programmes.submit(console.store, template, "admin:tests")
    auditor = await console.signed_in("auditor")
    await auditor.click("#nav-programmes")
    assert await auditor.locator("#new-version").count() == 0
    await auditor.click(".versions a")
    placement = auditor.locator("#timeline > li[data-code='placement']")
    assert "120 学时，市级" in await placement.locator(".credits").inner_text()
    assert "示范课" in await placement.locator("[data-field='tasks']").inner_text()
    rules = await placement.locator("table").last.inner_text()
    assert "task:demo-lesson" in rules and "daily_log" in rules  # the reminder rules about this block

    token = await auditor.get_attribute("input[name=csrf]", "value")  # the sign-out form's: refused by role, not token
    refused = await auditor.goto(f"{console.address}/console/programmes/new")
    assert refused is not None and refused.status == 403
    sent = await auditor.request.post(
        f"{console.address}/console/programmes/new",
        multipart={"csrf": token or "", "text": PLACEMENT.read_text(encoding="utf-8"), "action": "record"},
    )
    assert sent.status == 403
    assert await recorded(console) == [("district-principal-placement", 1, "admin:tests")]

    compare = f"{console.address}/console/programmes/{template.id}/compare"
    missing = await auditor.goto(f"{compare}?old=1&new=9")
    assert missing is not None and missing.status == 404
    assert await auditor.text_content("#message") == "该培训项目没有这个版本。"

    reminders = await console.signed_in("reminders")  # reads no programmes: not offered them
    assert await reminders.locator("#nav-programmes").count() == 0
    assert all(url.startswith(console.address) for url in console.requested)
