"""The console in a real browser: sign-in for each kind of account, the dashboard scoped to the signed-in
account, its chart drawn, the language switch, and the refusals (a wrong password, too many of them, a forged
form, an ended session). No page asks anything of a host but the console's own."""

from __future__ import annotations

import io
import re

from PIL import Image

from cohortflow.demo.sample import nominees, sample_programme
from tests.console.conftest import COORDINATED, SIGN_IN_LIMIT, Console
from tests.readmodels import write_cohort


async def seeded(console: Console) -> tuple[str, str]:
    """Two cohorts at nomination: one with people of every prefecture, one of three (none of the coordinator's)."""
    await write_cohort(console.store, "province-2026", until="nomination")
    small = sample_programme(3, 1)
    await write_cohort(console.store, "small-2026", until="nomination", programme=small, candidates=3, selected=1)
    assert COORDINATED not in {n.prefecture_code for n in nominees(small, 7)}
    return "province-2026", "small-2026"


async def table_of(page: object) -> list[list[str]]:
    rows: list[list[str]] = await page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#cohorts tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return rows


async def test_each_account_signs_in_and_sees_the_dashboard_of_its_own_scope(console: Console) -> None:
    province, small = await seeded(console)
    admin = await console.signed_in("admin")
    await admin.wait_for_selector(f"#cohorts a:text('{small}')")  # the read models catch up within moments
    assert await admin.text_content("h1") == "工作台"  # Chinese unless English is chosen
    assert "管理员" in (await admin.text_content("#who") or "")
    rows = {row[1]: row for row in await table_of(admin)}
    assert set(rows) == {province, small}
    assert rows[province][2] == "推荐报名" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[province][3])

    bars = await admin.eval_on_selector_all("#funnel rect", "rects => rects.map(r => r.getBBox().width)")
    assert len(bars) == 4 and bars[0] > 0  # drawn by the browser, nominated the widest
    picture = Image.open(io.BytesIO(await admin.locator("#funnel").screenshot())).convert("RGB")
    assert (31, 111, 235) in {colour for _, colour in picture.getcolors(maxcolors=1 << 16) or []}  # the bars' blue

    await admin.click("#language")
    assert await admin.text_content("h1") == "Dashboard"
    await admin.goto(f"{console.address}/console/dashboard")  # the choice is kept
    assert await admin.text_content("h1") == "Dashboard"

    by_prefecture = await admin.eval_on_selector_all("#prefectures tbody tr", "rows => rows.length")
    assert by_prefecture == 14  # the sample programme's prefectures, summed over both cohorts

    coordinator = await console.signed_in("coordinator")
    [own] = await coordinator.eval_on_selector_all(
        "#prefectures tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    assert own[0].endswith(f"({COORDINATED})")
    mine = {row[1]: row for row in await table_of(coordinator)}
    assert set(mine) == {province, small}  # both programmes include the prefecture, as the API lists them
    assert 0 < int(mine[province][4]) < int(rows[province][4])  # only the prefecture's own nominees count
    assert (mine[small][4], rows[small][4]) == ("0", "3")
    auditor = await console.signed_in("auditor")
    assert {row[1] for row in await table_of(auditor)} == {province, small}

    await admin.click("#sign-out")
    await admin.wait_for_url(f"{console.address}/console/sign-in")
    await admin.goto(f"{console.address}/console/dashboard")
    assert admin.url == f"{console.address}/console/sign-in"  # the session ended with the sign-out
    on_laptop_and_phone = [await console.page(1366, 768), await console.page(390, 844)]
    for page in on_laptop_and_phone:
        await page.goto(f"{console.address}/console/sign-in")
        assert await page.is_visible("#submit")
    assert console.requested and all(url.startswith(console.address) for url in console.requested)


async def test_wrong_passwords_forged_forms_and_ended_sessions_are_refused(console: Console) -> None:
    other = await console.signed_in("coordinator")  # before this address is refused for its failures below
    page = await console.page()
    await page.goto(f"{console.address}/console/sign-in")
    await page.fill("#name", "admin")
    await page.fill("#password", "not the password")
    await page.click("#submit")
    assert await page.text_content("#problem") == "账号或密码不正确。"
    assert await page.input_value("#name") == "admin"
    for _ in range(SIGN_IN_LIMIT - 1):
        await page.fill("#password", "still not the password")
        await page.click("#submit")
    answer = await page.request.post(
        f"{console.address}/console/sign-in",
        form={"name": "admin", "password": "correct horse battery", "csrf": "x"},  # right at last, refused anyway
        max_redirects=0,
    )
    assert answer.status == 429 and "登录失败次数过多" in await answer.text()
    assert answer.headers["retry-after"].isdigit()

    forged = await other.request.post(f"{console.address}/console/sign-out", form={"csrf": "guessed"})
    assert forged.status == 403  # the session's cookie went with it, its form token did not
    async with console.store.pool.connection() as conn:
        await conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    await other.click("#sign-out")  # a form from a page shown before the session ended
    assert await other.text_content("#problem") == "登录已失效，请重新登录。"
    stale = await other.request.get(f"{console.address}/console/dashboard", max_redirects=0)
    assert stale.status == 303 and stale.headers["location"] == "/console/sign-in"
