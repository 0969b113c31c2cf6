"""Reminder messages in the console, in a real browser: the outbox counted by state and filtered, a given-up message
with its reason, a message as it is sent, the preview of what a rule would say to a participant now, and the page
refused to a role that does not read reminders."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page

from cohortflow.console import reminders
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.phrases import phrase
from cohortflow.reminders.delivery import Delivery
from cohortflow.services.cohorts import start_cohort
from cohortflow.settings import Settings
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.console.conftest import Console
from tests.reminders.conftest import outbox_message, queue
from tests.workflows.helpers import feed_phase

REFUSED = phrase(
    "recipient refused: {code} {answer}", code=550, answer="5.1.1 <p00001@school.example>: mailbox unavailable"
)
NO_ADDRESS = phrase("no email address on record")


async def rows(page: Page) -> list[list[str]]:
    found: list[list[str]] = await page.eval_on_selector_all(
        "#messages tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return found


async def test_the_outbox_is_counted_filtered_and_read_by_the_reminder_account(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    waiting = [outbox_message(i) for i in range(3)] + [outbox_message(3, due=later)]
    unreachable = replace(
        outbox_message(4, rule="reflection-3d"), address=None, status="gave_up", last_error=NO_ADDRESS
    )
    assert await queue(console.store, [*waiting, unreachable]) == 5
    # The dispatcher's own outcomes: one sent, one refused for good, one failed for now (queued again).
    delivery = Delivery(console.store)
    sent, refused, failed = await delivery.claim(now, limit=3, lease=timedelta(minutes=5))
    assert await delivery.sent(sent, now)
    assert await delivery.gave_up(refused, REFUSED)
    assert await delivery.failed(failed, "421 try again later", now + timedelta(hours=1))

    page = await console.signed_in("reminders")
    await page.click("#nav-reminders")
    counts = [await page.text_content(f"#count-{state}") for state in ("queued", "sent", "gave_up")]
    assert counts == ["待发送: 2", "已发送: 1", "已放弃: 2"]
    listed = await rows(page)
    assert len(listed) == 5 and {r[3] for r in listed} == {f"P0000{i}" for i in range(5)}

    await page.select_option("#state", "gave_up")
    await page.click("#filter-submit")
    given_up = {r[3]: r[9] for r in await rows(page)}  # why each was given up, said in Chinese
    assert given_up == {
        refused.recipient: "收件人被拒绝：550 5.1.1 <p00001@school.example>: mailbox unavailable",
        "P00004": "没有登记电子邮箱地址",
    }
    await page.fill("#rule", "reflection-3d")
    await page.click("#filter-submit")
    assert [r[3] for r in await rows(page)] == ["P00004"]
    await page.click("#messages a")
    assert await page.text_content("#reason") == "没有登记电子邮箱地址"
    await page.go_back()
    assert await page.text_content("#count-gave_up") == "已放弃: 1"  # the counts follow the cohort and rule

    monkeypatch.setattr(reminders, "SHOWN", 2)  # past the rows shown, the reader narrows the search
    await page.goto(f"{console.address}/console/reminders")
    assert len(await rows(page)) == 2
    assert "另有 3 条未显示" in (await page.text_content("#more") or "")

    await page.goto(f"{console.address}/console/reminders?state=sent")
    await page.click("#messages a")
    assert await page.text_content("#state") == "已发送"
    assert await page.text_content("#subject") == sent.subject
    assert await page.text_content("#body") == sent.body  # the text the channel was given, as it was given

    admin = await console.signed_in("admin")  # every permission, reminders' too
    await admin.click("#nav-reminders")
    assert await admin.text_content("#count-sent") == "已发送: 1"
    for name in ("auditor", "coordinator"):
        other = await console.signed_in(name)
        assert not await other.is_visible("#nav-reminders")
        for path in ("/console/reminders", "/console/reminders/preview?cohort=rm1&rule=hours-7d"):
            answer = await other.goto(f"{console.address}{path}")
            assert answer is not None and answer.status == 403
    assert all(url.startswith(console.address) for url in console.requested)


async def test_a_queued_reminder_and_what_its_rule_would_say_now(steering_console: Console, tmp_path: Path) -> None:
    console = steering_console
    assert console.temporal is not None
    client, programme = console.temporal.client, sample_programme(120, 20, reminders=True)
    await start_cohort(client, CohortCycleInput(cohort_id="r1", programme=programme), console.task_queue)
    await feed_phase(client, console.store, Settings(state_dir=tmp_path).uploads, "r1", programme, "nomination", seed=9)
    await console.temporal.sleep(timedelta(days=114))  # online study's reminders, a week before it closes

    page = await console.signed_in("reminders")
    for _ in range(200):  # the cohort queues its reminders within moments of the timer
        await page.goto(f"{console.address}/console/reminders?cohort=r1&rule=study-hours")
        if await page.is_visible("#messages a"):
            break
        await asyncio.sleep(0.1)
    await page.click("#messages a")
    queued_body = await page.text_content("#body") or ""
    await page.click("#preview-now")  # the same rule and participant, rendered by the API's preview
    assert await page.text_content("#subject") is not None
    previewed = await page.text_content("#rendered #body") or ""
    assert "<deadline>" in previewed  # a preview is not a firing: it names no deadline
    assert queued_body.startswith(previewed.split("<deadline>")[0])  # otherwise what the participant was sent

    await page.fill("#preview-participant", "")  # the rule itself, every value its placeholder
    await page.click("#preview-submit")
    assert (await page.text_content("#rendered #body") or "").startswith("<name>老师：您目前的网络研修学时为<hours>")
    await page.fill("#preview-rule", "no-such-rule")
    await page.click("#preview-submit")
    assert await page.is_visible("#preview-problem") and not await page.is_visible("#rendered")
    assert all(url.startswith(console.address) for url in console.requested)
