"""Steering a running cohort from the console, in a real browser against a real worker and time-skipping
Temporal server: each form problem shown beside its field with nothing sent, the cohort's refusal shown with its
reason, and a command carried out with the signed-in account recorded as its actor."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from cohortflow.activities.credit_bank import BankActivities, PeopleImport
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.national_id import mask
from cohortflow.domain.template import parse_any
from cohortflow.services import programmes
from cohortflow.services.cohorts import start_cohort
from cohortflow.settings import Settings
from cohortflow.workflows.cohort_cycle import ClosePhase, CohortCycleInput, CohortCycleWorkflow
from tests.console.conftest import Console
from tests.workflows.helpers import feed_phase, wait_for_status

EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"
YAML = "application/yaml"


async def test_an_administrator_steers_a_cohort_and_is_recorded_as_its_actor(steering_console: Console) -> None:
    console = steering_console
    assert console.temporal is not None
    inp = CohortCycleInput(cohort_id="c1", programme=sample_programme(120, 20))
    await start_cohort(console.temporal.client, inp, console.task_queue)
    admin = await console.signed_in("admin")
    await admin.wait_for_selector("#cohorts a:text('c1')")  # projected within moments
    await admin.click("#cohorts a:text('c1')")
    assert "推荐报名" in (await admin.text_content("#where") or "")

    await admin.click("#close-phase-submit")  # no reason, no confirmation
    assert await admin.text_content("#close-phase-reason-problem") == "此项必填。"
    await admin.fill("#close-phase-reason", "名额已满")
    await admin.click("#close-phase-submit")
    assert await admin.text_content("#close-phase-confirm-problem") == "请勾选确认：此操作不可撤销。"
    assert await admin.input_value("#close-phase-reason") == "名额已满"  # what was typed is kept

    await admin.fill("#extend-deadline-new_deadline", "2020-01-01T18:00")
    await admin.fill("#extend-deadline-reason", "系统维护")
    await admin.check("#extend-deadline-confirm")
    await admin.click("#extend-deadline-submit")  # before the phase opened: the cohort refuses, with its reason
    assert "培训班拒绝了该操作" in (await admin.text_content("#refused") or "")

    await admin.fill("#close-phase-reason", "名额已满")
    await admin.check("#close-phase-confirm")
    await admin.click("#close-phase-submit")
    assert await admin.text_content("#done") == "已完成：正在结束。"
    await console.temporal.sleep(timedelta(days=1))
    await wait_for_status(console.temporal.client, "cohort-c1", lambda s: s.phase == "online_study")
    closed = [e async for e in console.store.read_stream("cohort-c1", types=["PhaseClosed"])]
    assert closed and "名额已满 (by admin:admin)" in str(closed[0].data)

    auditor = await console.signed_in("auditor")
    await auditor.goto(f"{console.address}/console/cohorts/c1")
    assert not await auditor.is_visible("#close-phase")  # an auditor changes nothing
    forbidden = await auditor.request.post(
        f"{console.address}/console/cohorts/c1/steer/close-phase", form={"phase": "online_study", "reason": "x"}
    )
    assert forbidden.status == 403
    assert all(url.startswith(console.address) for url in console.requested)


async def _in_online_study(console: Console, cohort_id: str, uploads: Path) -> None:
    """A cohort of the sample programme whose nominations are in: its online study open."""
    assert console.temporal is not None
    client = console.temporal.client
    programme = sample_programme(120, 20)
    handle = await start_cohort(client, CohortCycleInput(cohort_id=cohort_id, programme=programme), console.task_queue)
    await feed_phase(client, console.store, uploads, cohort_id, programme, "nomination", seed=3)
    await handle.execute_update(CohortCycleWorkflow.close_phase, ClosePhase(phase="nomination", reason="名额已满"))
    await console.temporal.sleep(timedelta(days=1))
    await wait_for_status(client, f"cohort-{cohort_id}", lambda s: s.phase == "online_study")


async def test_participants_are_found_withdrawn_and_corrected_once_each(
    steering_console: Console, tmp_path: Path
) -> None:
    console = steering_console
    uploads = Settings(state_dir=tmp_path).uploads
    await _in_online_study(console, "c2", uploads)
    admin = await console.signed_in("admin")
    for _ in range(100):  # the read models catch up within moments
        await admin.goto(f"{console.address}/console/cohorts/c2")
        if await admin.locator("#participants tbody tr").count() > 1:
            break
        await asyncio.sleep(0.1)
    rows = await admin.eval_on_selector_all(
        "#participants tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    participant, name, national_id = next(row[:3] for row in rows if row[4] == "430100")
    elsewhere = next(row[2] for row in rows if row[4] != "430100")

    coordinator = await console.signed_in("changsha")  # sees ID numbers masked; finds their people by them
    await coordinator.goto(f"{console.address}/console/cohorts/c2?national_id={mask(national_id)}")
    assert await coordinator.locator("#participants tbody td").first.inner_text() == participant
    await coordinator.goto(f"{console.address}/console/cohorts/c2?national_id={mask(elsewhere)}")
    assert await coordinator.text_content("#participants tbody td") == "没有符合条件的人员。"  # another prefecture's
    await coordinator.goto(f"{console.address}/console/cohorts/c2?national_id={national_id}")
    assert await coordinator.is_visible("#search-id-problem")  # a whole number is not theirs to search by
    assert not await coordinator.is_visible("#withdraw")

    await admin.fill("#correct-value", "李四")
    await admin.select_option("#correct-field", "name")
    await admin.fill("#correct-reason", "姓名录入有误")
    await admin.check("#correct-confirm")
    await admin.click("#correct-submit")  # no participant named: nothing is sent
    assert await admin.text_content("#correct-participant_id-problem") == "此项必填。"
    assert await admin.input_value("#correct-value") == "李四"
    await admin.fill("#correct-participant_id", participant)
    await admin.check("#correct-confirm")
    await admin.click("#correct-submit")
    assert await admin.text_content("#done") == "已完成：已更正。"

    await admin.fill("#withdraw-participant_id", participant)
    await admin.fill("#withdraw-reason", "工作调动")
    once = await admin.input_value("#withdraw input[name=once]")
    csrf = await admin.input_value("#withdraw input[name=csrf]")
    form = {"csrf": csrf, "once": once, "participant_id": participant, "reason": "工作调动", "confirm": "yes"}
    for _ in range(2):  # the same form sent twice (a reload, a double click) withdraws once, answered alike
        sent = await admin.request.post(f"{console.address}/console/cohorts/c2/steer/withdraw", form=form)
        assert sent.status == 200
        assert "已完成：已退出。" in await sent.text()
    withdrawn = [e async for e in console.store.read_stream("cohort-c2", types=["ParticipantWithdrawn"])]
    corrected = [e async for e in console.store.read_stream("cohort-c2", types=["FactCorrected"])]
    assert [(e.data["participant_id"], e.metadata["actor"]) for e in withdrawn] == [(participant, "admin:admin")]
    assert [(e.data["value"], e.data["previous"], e.metadata["actor"]) for e in corrected] == [
        ("李四", name, "admin:admin")
    ]

    # The participant's timeline, as a coordinator of their prefecture reads it; another's finds no one.
    await coordinator.goto(f"{console.address}/console/cohorts/c2?national_id={mask(national_id)}")
    await coordinator.click(f"#participants a:text('{participant}')")
    timeline = await coordinator.eval_on_selector_all(
        "#timeline tbody tr", "rows => rows.map(r => [r.cells[1].innerText, r.cells[2].innerText])"
    )
    assert timeline[0][0] == "被推荐报名"
    by_admin = [row for row in timeline if row[1] == "admin:admin"]
    assert by_admin == [["信息更正", "admin:admin"], ["退出", "admin:admin"]]
    assert national_id not in (await coordinator.text_content("main") or "")  # masked in the facts and the events
    elsewhere = await console.signed_in("coordinator")
    answer = await elsewhere.goto(f"{console.address}/console/cohorts/c2/participants/{participant}")
    assert answer is not None and answer.status == 404

    # Registered in the credit bank, the person's page lists their place in the cohort.
    people = "姓名,身份证号,职务,任职时间,学校,区县代码,市州代码,学段,学科\n"
    people += f"李四,{national_id},教师,,长沙市第一中学,430102,430100,高中,数学\n"
    digest = hashlib.sha256(people.encode()).hexdigest()
    (uploads / digest).write_text(people, encoding="utf-8")
    bank = BankActivities(console.store, uploads)
    registering = PeopleImport(digest=digest, filename="people.csv", request_id="p", at=datetime.now(UTC))
    assert (await ActivityEnvironment().run(bank.import_people, registering)).status == "applied"
    key = (await console.store.person_keys()).of(national_id)
    for _ in range(100):  # the read models catch up within moments
        await admin.goto(f"{console.address}/console/people/{key}")
        if await admin.is_visible("#places"):
            break
        await asyncio.sleep(0.1)
    places = await admin.eval_on_selector_all(
        "#places tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText, r.cells[2].innerText])"
    )
    assert places == [["c2", participant, "已退出"]]
    assert all(url.startswith(console.address) for url in console.requested)


async def test_an_administrator_starts_a_cohort_from_a_programme_version(steering_console: Console) -> None:
    console = steering_console
    assert console.temporal is not None
    text = (EXAMPLES / "placement.yaml").read_bytes()
    recorded = await programmes.submit(console.store, parse_any(programmes.read_template(text, YAML)), "admin:tests")
    admin = await console.signed_in("admin")
    await admin.goto(f"{console.address}/console/programmes/{recorded.programme_id}/versions/{recorded.version}")

    await admin.fill("#start-cohort_id", "第一期")  # only letters, digits, - and _ of ASCII
    await admin.click("#start-submit")
    assert await admin.text_content("#start-cohort_id-problem") == "请只使用此处允许的字符。"
    await admin.fill("#start-cohort_id", "placement-2027")
    await admin.click("#start-submit")
    assert "placement-2027" in (await admin.text_content("#started") or "")
    for _ in range(100):  # the cohort records its start as its first step
        started = [e async for e in console.store.read_stream("cohort-placement-2027")]
        if started:
            break
        await asyncio.sleep(0.1)
    assert started[0].metadata["actor"] == "admin:admin"

    await admin.go_back()
    await admin.fill("#start-cohort_id", "placement-2027")
    await admin.click("#start-submit")  # the id is taken: refused beside the field, nothing started again
    assert await admin.text_content("#start-cohort_id-problem") == "已有使用此编号的培训班；请另选编号。"

    await admin.goto(f"{console.address}/console/cohorts/placement-2027")  # a block template's cohort
    for _ in range(100):  # the read models catch up within moments
        if await admin.is_visible("#open-blocks"):
            break
        await asyncio.sleep(0.1)
        await admin.reload()
    assert await admin.eval_on_selector_all("#open-blocks tbody td:first-child", "c => c.map(x => x.innerText)") == [
        "enrolment"
    ]
    assert not await admin.is_visible("#close-phase")
    await admin.click("#import-link")
    await admin.select_option("#kind", "nominees")
    await admin.select_option("#block", "enrolment")
    await admin.set_input_files("#file", str(EXAMPLES.parent / "imports" / "placement" / "nominees.csv"))
    await admin.click("#upload-submit")
    await admin.wait_for_selector("#outcome")
    assert (await admin.text_content("#outcome") or "").startswith("已应用 20 行中的 20 行")
    await admin.goto(f"{console.address}/console/cohorts/placement-2027")
    await admin.select_option("#close-block-block", "enrolment")
    await admin.fill("#close-block-reason", "报名已齐")
    await admin.check("#close-block-confirm")
    await admin.click("#close-block-submit")
    assert await admin.text_content("#done") == "已完成：正在结束。"
    nominated = [e async for e in console.store.read_stream("cohort-placement-2027", types=["CandidateNominated"])]
    assert len(nominated) == 20 and {e.metadata["actor"] for e in nominated} == {"admin:admin"}

    coordinator = await console.signed_in("coordinator")  # reads programmes, starts no cohort
    await coordinator.goto(f"{console.address}/console/programmes/{recorded.programme_id}/versions/1")
    assert await coordinator.is_visible("#programme") and not await coordinator.is_visible("#start")
    assert all(url.startswith(console.address) for url in console.requested)
