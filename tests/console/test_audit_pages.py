"""The auditor's pages in a real browser against a real store: the history verified against a digest (intact, and
how far it has grown since), a malformed digest refused beside its field, a participant as the history stood at a
past moment, a selection replayed and a what-if's differences, a bundle downloaded that the offline verifier
accepts, each question journalled with the auditor as its actor, and other roles refused."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cohortflow.audit import standalone_verifier
from cohortflow.audit.journal import AUDIT_STREAM
from cohortflow.domain.events import FactCorrected
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from tests.console.conftest import Console
from tests.readmodels import CohortWriter, write_cohort


async def _cohort_with_a_late_correction(console: Console) -> tuple[CohortWriter, str, float, datetime]:
    """A cohort through its selection, a moment to ask about, then a participant's hours corrected after it."""
    w = await write_cohort(console.store, "c1", until="selection")
    await asyncio.sleep(1.1)  # the form takes whole seconds: the moment falls after every event so far
    moment = datetime.now(UTC).replace(microsecond=0)
    await asyncio.sleep(1.1)
    pid, hours = next((pid, p.hours) for pid, p in w.facts.participants.items() if p.hours > 0)
    fix = FactCorrected(participant_id=pid, field="hours", previous=hours, value=hours + 50, reason="补录")
    await w.record("late-fix", [fix], actor="admin:zhang")
    return w, pid, hours, moment


async def test_an_auditor_verifies_the_history_against_a_digest_and_downloads_a_bundle(
    console: Console, tmp_path: Path
) -> None:
    w = await write_cohort(console.store, "c1", until="selection")
    auditor = await console.signed_in("auditor")
    await auditor.click("#nav-audit")
    earlier = await auditor.input_value("#digest-text")
    position = json.loads(earlier)["position"]
    assert f"位置 {position}" in (await auditor.text_content("#digest-now") or "")
    pid = next(iter(w.facts.participants))
    await w.record("late", [FactCorrected(participant_id=pid, field="name", previous="", value="李明", reason="更名")])

    await auditor.fill("#digest", '{"store_id": "x", "position": 3}')  # malformed: no hash, no times
    await auditor.click("#verify-submit")
    assert "这不是 cohortflow 导出的摘要" in (await auditor.text_content("#digest-problem") or "")
    assert not await auditor.is_visible("#verdict")  # nothing verified, nothing recorded
    await auditor.fill("#digest", earlier)  # the digest from before the later events
    await auditor.click("#verify-submit")
    assert await auditor.is_visible("#intact")
    # The page's own digest question and the correction came after the digest; what it names is unchanged.
    assert "此后又记录了 2 条事件" in (await auditor.text_content("#against") or "")
    await auditor.fill("#cohort", "nope")
    await auditor.click("#verify-submit")
    assert await auditor.text_content("#cohort-problem") == "没有这个培训班。"

    async with auditor.expect_download() as download_info:
        await auditor.click("#bundle-submit")  # the whole store
    bundle = tmp_path / "bundle.jsonl"
    await (await download_info.value).save_as(bundle)
    saved = tmp_path / "digest.json"
    saved.write_text(earlier, encoding="utf-8")
    assert standalone_verifier.main([str(bundle), "--digest", str(saved)]) == 0
    assert "cohortflow audit check-bundle" in (await auditor.text_content("#offline") or "")

    coordinator = await console.signed_in("coordinator")
    assert not await coordinator.is_visible("#nav-audit")
    refused = await coordinator.goto(f"{console.address}/console/audit")
    assert refused is not None and refused.status == 403
    forged = await coordinator.request.post(f"{console.address}/console/audit/verify", form={"digest": earlier})
    assert forged.status == 403

    journal = [e async for e in console.store.read_stream(AUDIT_STREAM)]
    asked = [(e.data["query"], e.data["outcome"]) for e in journal if e.metadata["actor"] == "auditor:auditor"]
    assert asked == [("digest", f"position {position}"), ("verify", "intact"), ("bundle", str(position + 3))]
    assert all(url.startswith(console.address) for url in console.requested)


async def test_a_broken_chain_is_located_and_its_details_said_in_chinese(
    console: Console, superuser: psycopg.Connection
) -> None:
    await write_cohort(console.store, "c1", until="selection")
    superuser.execute("UPDATE events SET data = (data::jsonb || '{\"tampered\": true}')::json WHERE position = 3")
    auditor = await console.signed_in("auditor")
    await auditor.click("#nav-audit")
    await auditor.click("#verify-submit")  # no digest: the chain alone is checked
    assert await auditor.is_visible("#broken")
    breaks = await auditor.eval_on_selector_all(
        "#breaks tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[2].innerText])"
    )
    assert breaks[0] == ["3", "内容与其哈希不符"]


async def test_an_auditor_sees_a_participant_as_of_a_past_moment_and_replays_the_selection(console: Console) -> None:
    w, pid, hours_then, moment = await _cohort_with_a_late_correction(console)
    auditor = await console.signed_in("auditor")
    await auditor.goto(f"{console.address}/console/audit/as-of")
    await auditor.fill("#cohort", "c1")
    await auditor.fill("#participant", pid)
    await auditor.click("#as-of-submit")  # no moment given
    assert await auditor.text_content("#at-problem") == "请填写日期和时间。"
    await auditor.fill("#at", moment.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%dT%H:%M:%S"))
    await auditor.click("#as-of-submit")
    assert await auditor.text_content("#state-hours") == str(hours_then)  # before the correction
    chosen = "已遴选" if pid in w.facts.selected else ("候补" if pid in w.facts.waiting_list else "未入选")
    assert await auditor.text_content("#state-selection") == chosen
    assert await auditor.locator("#events tbody tr").count() > 0

    await auditor.click("#nav-selection")
    await auditor.fill("#cohort", "c1")
    await auditor.click("#selection-submit")
    assert "与记录完全一致" in (await auditor.text_content("#summary") or "")
    target = w.programme.selection.target
    assert f"记录的规则：{target}" in (await auditor.text_content("label[for=target]") or "")
    await auditor.fill("#target", "x")
    await auditor.click("#selection-submit")
    assert await auditor.text_content("#target-problem") == "请填写数字。"
    await auditor.fill("#target", str(target + 5))  # five more places: five more people selected
    await auditor.click("#selection-submit")
    assert f"将有 {target + 5} 人入选" in (await auditor.text_content("#summary") or "")
    newly = auditor.locator("#changes tbody tr", has_text="入选，第")
    assert await newly.count() >= 5
    assert "the line" not in (await auditor.text_content("#changes") or "")  # each reason said in Chinese

    journal = [e async for e in console.store.read_stream(AUDIT_STREAM)]
    asked = [(e.data["query"], e.data["params"]) for e in journal if e.metadata["actor"] == "auditor:auditor"]
    assert [q for q, _ in asked] == ["as-of", "selection", "selection"]
    assert asked[0][1] == {"cohort": "c1", "participant": pid, "at": moment.astimezone(PROVINCE_ZONE).isoformat()}
    assert asked[2][1] == {"cohort": "c1", "what_if": f"target={target + 5}"}
    assert all(url.startswith(console.address) for url in console.requested)
