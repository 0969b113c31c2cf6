"""Importing into a cohort from the console, in a real browser against a real worker and time-skipping server:
a file with a bad row shows every problem and applies nothing; the same rows with "apply the good rows" apply
the others and offer the rejected ones for download, masked for a coordinator; the coordinator is recorded as
the actor; a file that is not a spreadsheet is refused unread."""

from __future__ import annotations

from pathlib import Path

from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.national_id import mask
from cohortflow.domain.nomination import NomineeRow
from cohortflow.services.cohorts import start_cohort
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.api.test_admin_api import nominee_csv
from tests.console.conftest import Console

PROGRAMME = sample_programme(120, 20)


async def test_a_coordinator_imports_nominees_and_sees_every_bad_row(steering_console: Console, tmp_path: Path) -> None:
    console = steering_console
    assert console.temporal is not None
    await start_cohort(
        console.temporal.client, CohortCycleInput(cohort_id="c1", programme=PROGRAMME), console.task_queue
    )
    mine = [p for p in nominees(PROGRAMME, seed=5) if p.prefecture_code == "430100"][:4]
    bad_id = mine[1].national_id[:-1] + ("0" if mine[1].national_id[-1] != "0" else "1")
    dirty = [mine[0], NomineeRow(**{**vars(mine[1]), "national_id": bad_id}), *mine[2:]]
    upload = tmp_path / "nominees.csv"
    upload.write_bytes(nominee_csv(dirty))

    coordinator = await console.signed_in("changsha")
    await coordinator.wait_for_selector("#cohorts a:text('c1')")
    await coordinator.click("#cohorts a:text('c1')")
    await coordinator.click("#import-link")
    await coordinator.select_option("#kind", "nominees")
    await coordinator.set_input_files("#file", str(upload))
    await coordinator.click("#upload-submit")
    await coordinator.wait_for_selector("#outcome")
    assert "未应用任何数据" in (await coordinator.text_content("#outcome") or "")
    problems = await coordinator.eval_on_selector_all("#problems td", "cells => cells.map(c => c.innerText)")
    assert problems == [f"第 3 行，national_id：校验码为 {bad_id[-1]}，应为 {mine[1].national_id[-1]}"]
    assert [e async for e in console.store.read_stream("cohort-c1", types=["CandidateNominated"])] == []

    await coordinator.select_option("#kind", "nominees")
    await coordinator.set_input_files("#file", str(upload))
    await coordinator.check("#partial")
    await coordinator.click("#upload-submit")
    await coordinator.wait_for_selector("#rejects")
    assert (await coordinator.text_content("#outcome") or "").startswith("已应用 4 行中的 3 行；拒收 1 行。")
    nominated = [e async for e in console.store.read_stream("cohort-c1", types=["CandidateNominated"])]
    assert len(nominated) == 3 and {e.metadata["actor"] for e in nominated} == {"coordinator:changsha"}
    async with coordinator.expect_download() as waiting:
        await coordinator.click("#rejects")
    rows = Path(await (await waiting.value).path()).read_text(encoding="utf-8-sig")
    assert mask(bad_id) in rows and bad_id not in rows  # a coordinator does not read whole ID numbers

    not_a_sheet = tmp_path / "photo.png"
    not_a_sheet.write_bytes(b"\x89PNG\r\n\x1a\n")
    await coordinator.select_option("#kind", "nominees")
    await coordinator.set_input_files("#file", str(not_a_sheet))
    await coordinator.click("#upload-submit")
    await coordinator.wait_for_selector("#problem")
    assert "不是电子表格" in (await coordinator.text_content("#problem") or "")  # the refusal said in Chinese
    assert all(url.startswith(console.address) for url in console.requested)
