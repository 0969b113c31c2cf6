"""Steering a running cohort from the console, in a real browser against a real worker and time-skipping
Temporal server: each form problem shown beside its field with nothing sent, the cohort's refusal shown with its
reason, and a command carried out with the signed-in account recorded as its actor."""

from __future__ import annotations

from datetime import timedelta

from cohortflow.demo.sample import sample_programme
from cohortflow.services.cohorts import start_cohort
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.console.conftest import Console
from tests.workflows.helpers import wait_for_status


async def test_an_administrator_steers_a_cohort_and_is_recorded_as_its_actor(steering_console: Console) -> None:
    console = steering_console
    assert console.temporal is not None
    inp = CohortCycleInput(cohort_id="c1", programme=sample_programme(120, 20))
    await start_cohort(console.temporal.client, inp, console.task_queue)
    admin = await console.signed_in("admin")
    await admin.wait_for_selector("#cohorts a:text('c1')")  # projected within moments
    await admin.click("#cohorts a:text('c1')")
    assert "推荐报名" in (await admin.text_content("#where") or "")

    await admin.click("#close-submit")  # no reason, no confirmation
    assert await admin.is_visible("#close-reason-problem")
    await admin.fill("#close-reason", "名额已满")
    await admin.click("#close-submit")
    assert await admin.text_content("#close-confirm-problem") == "请勾选确认：此操作不可撤销。"
    assert await admin.input_value("#close-reason") == "名额已满"  # what was typed is kept

    await admin.fill("#new-deadline", "2020-01-01T18:00")
    await admin.fill("#extend-reason", "系统维护")
    await admin.click("#extend-submit")  # before the phase opened: the cohort refuses, with its reason
    assert "培训班拒绝了该操作" in (await admin.text_content("#refused") or "")

    await admin.fill("#close-reason", "名额已满")
    await admin.check("#close-confirm")
    await admin.click("#close-submit")
    assert await admin.text_content("#done") == "已完成：正在结束。"
    await console.temporal.sleep(timedelta(days=1))
    await wait_for_status(console.temporal.client, "cohort-c1", lambda s: s.phase == "online_study")
    closed = [e async for e in console.store.read_stream("cohort-c1", types=["PhaseClosed"])]
    assert closed and "名额已满 (by admin:admin)" in str(closed[0].data)

    auditor = await console.signed_in("auditor")
    await auditor.goto(f"{console.address}/console/cohorts/c1")
    assert not await auditor.is_visible("#close")  # an auditor changes nothing
    forbidden = await auditor.request.post(
        f"{console.address}/console/cohorts/c1/close-phase", form={"phase": "online_study", "reason": "x"}
    )
    assert forbidden.status == 403
    assert all(url.startswith(console.address) for url in console.requested)
