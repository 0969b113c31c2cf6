"""A block template's cohort, started from the API and fed only by the shipped example files, runs to completion.

The placement example: twenty principals placed at host schools matched by
school level, a mentor each, in groups with a leader, working through a task
checklist with a daily log, the host's assessment and a report home; then a
report back at their own school and a follow-up. Every fact arrives as an
upload while its block is open, as an administrator would send it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.store.eventstore import EventStore
from tests.api.conftest import Api
from tests.workflows.helpers import event_types

EXAMPLES = Path(__file__).parents[2] / "examples"
FILES = EXAMPLES / "imports" / "placement"
COHORT = "2026-fr-placement"
NOT_MET = {"PL007": "observed 40 lessons of 56", "PL012": "host assessment 65, below 70"}
SILENT = "PL019"
"""Hands in no report back home."""


async def upload(api: Api, kind: str, file: Path | bytes, **params: str) -> dict[str, Any]:
    name, content = (file.name, file.read_bytes()) if isinstance(file, Path) else (f"{kind}.csv", file)
    response = await api.http.post(
        f"/api/v1/cohorts/{COHORT}/imports/{kind}",
        files={"file": (name, content)},
        params=params,
        headers=api.as_("admin"),
    )
    return {**response.json(), "http_status": response.status_code}


async def status(api: Api) -> dict[str, Any]:
    response = await api.http.get(f"/api/v1/cohorts/{COHORT}/status", headers=api.as_("admin"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def enter(api: Api, env: WorkflowEnvironment, block: str, days: int = 0) -> None:
    """Let ``days`` programme days pass and wait until ``block`` is open."""
    if days:
        await env.sleep(timedelta(days=days))
    for _ in range(600):
        try:
            if block in [b["code"] for b in (await status(api))["open_blocks"]]:
                return
        except AssertionError:
            pass  # the status query can fall between two runs of continue-as-new
        await asyncio.sleep(0.05)
    raise AssertionError(f"block {block} never opened; last seen {await status(api)}")


@pytest.mark.slow
async def test_the_placement_example_runs_from_imports_to_completion_with_credits(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    template = (EXAMPLES / "programmes" / "placement.yaml").read_bytes()
    submitted = await api.http.post(
        "/api/v1/programmes", content=template, headers={**api.as_("admin"), "content-type": "application/yaml"}
    )
    assert submitted.status_code == 201, submitted.text
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": COHORT, "programme_id": "district-principal-placement", "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201, started.text
    await enter(api, time_skipping, "enrolment")

    assert (await upload(api, "nominees", FILES / "nominees.csv"))["applied"] == 20
    early = await upload(api, "placements", FILES / "placements.csv")
    assert early["http_status"] == 409
    assert early["detail"] == "no open block takes placements files; the open blocks are: enrolment"

    await enter(api, time_skipping, "placement", 14)
    wrong_level = await upload(api, "placements", "学员编号,跟岗学校\nPL001,SH-MS1\nPL002,SH-NONE\n".encode())
    assert wrong_level["http_status"] == 422
    assert wrong_level["problems"] == [
        "row 2, host: SH-MS1 is a senior school; the participant has primary",
        "row 3, host: 'SH-NONE' is not a host school of placement",
    ]
    for kind, rows in [
        ("placements", 20),
        ("mentors", 20),
        ("groups", 20),
        ("tasks", 160),
        ("daily_log", 60),
        ("host_assessment", 20),
        ("home_report", 20),
    ]:
        outcome = await upload(api, kind, FILES / f"{kind}.csv")
        assert (outcome["status"], outcome["applied"]) == ("applied", rows), outcome
    full = await upload(api, "placements", "学员编号,跟岗学校\nPL001,SH-PS2\n".encode())
    assert (full["http_status"], full["status"], full["already_applied"]) == (200, "duplicate", 1)  # not "full"
    short = await upload(api, "tasks", "学员编号,任务代码,完成数量,内容\nPL001,summary,1,太短\n".encode())
    assert short["problems"] == ["row 2, summary: 2 characters, fewer than the 3000 task summary asks for"]

    phase = await api.http.post(
        f"/api/v1/cohorts/{COHORT}/close-phase",
        json={"phase": "online_study", "reason": "wrong form"},
        headers=api.as_("admin"),
    )
    assert phase.status_code == 409
    assert phase.json()["detail"] == (
        "this cohort runs a block template, which has blocks, not phases: use close-block"
    )
    not_open = await api.http.post(
        f"/api/v1/cohorts/{COHORT}/close-block", json={"block": "follow-up", "reason": "x"}, headers=api.as_("admin")
    )
    assert not_open.status_code == 409
    assert not_open.json()["detail"] == "block follow-up is not open (open now: placement)"

    await enter(api, time_skipping, "report-back", 28)
    late = await upload(api, "home_report", FILES / "home_report.csv", block="placement")
    assert late["http_status"] == 409
    assert late["detail"] == "block placement is not open; the open blocks are: report-back"
    assert (await upload(api, "return_reports", FILES / "return_reports.csv"))["applied"] == 19

    async def closes(block: str) -> datetime:
        found = next(b["closes_at"] for b in (await status(api))["open_blocks"] if b["code"] == block)
        return datetime.fromisoformat(found)

    planned = await closes("report-back")
    extend = f"/api/v1/cohorts/{COHORT}/extend-block"
    later = planned + timedelta(days=3)
    body = {"block": "report-back", "new_close": later.isoformat(), "reason": "两所学校推迟汇报"}
    extended = await api.http.post(extend, json=body, headers=api.as_("admin"))
    assert extended.status_code == 200 and extended.json()["outcome"] == "extended", extended.text
    assert await closes("report-back") == later
    earlier = await api.http.post(extend, json={**body, "new_close": planned.isoformat()}, headers=api.as_("admin"))
    assert earlier.status_code == 409 and "is not after the current one" in earlier.json()["detail"]
    naive = await api.http.post(extend, json={**body, "new_close": "2030-01-01T00:00:00"}, headers=api.as_("admin"))
    assert naive.status_code == 422
    closed = await api.http.post(extend, json={**body, "block": "placement"}, headers=api.as_("admin"))
    assert closed.json()["detail"] == "block placement is not open (open now: report-back)"
    correct = f"/api/v1/cohorts/{COHORT}/corrections"
    school = {"participant_id": "PL003", "field": "school", "value": "芙蓉区第三小学", "reason": "学校更名"}
    corrected = await api.http.post(correct, json=school, headers=api.as_("admin"))
    assert corrected.status_code == 200 and corrected.json()["correction"]["previous"] != "芙蓉区第三小学"
    hours = await api.http.post(correct, json={**school, "field": "hours", "value": "3"}, headers=api.as_("admin"))
    assert hours.status_code == 409 and "keeps no hours of its own" in hours.json()["detail"]

    await enter(api, time_skipping, "follow-up", 33)  # its 30 days and the 3 of the extension
    assert (await upload(api, "follow_up", FILES / "follow_up.csv"))["applied"] == 40

    await time_skipping.sleep(timedelta(days=182))
    handle = time_skipping.client.get_workflow_handle(f"cohort-{COHORT}")
    result = await handle.result()
    completers = 20 - len(NOT_MET) - 1
    assert result["counters"]["completed"] == completers
    counts = await event_types(store, COHORT)
    assert counts["ParticipantCompleted"] == completers
    assert counts["BlockOpened"] == counts["BlockClosed"] == 5
    assert counts["BlockExtended"] == counts["FactCorrected"] == 1
    assert counts["CreditAwarded"] == (20 - len(NOT_MET)) + 19

    await api.caught_up()

    async def credits(pid: str) -> dict[str, float]:
        answer = await api.http.get(f"/api/v1/cohorts/{COHORT}/participants/{pid}/credits", headers=api.as_("auditor"))
        assert answer.status_code == 200, answer.text
        return {entry["phase"]: entry["hours"] for entry in answer.json()["entries"]}

    assert await credits("PL001") == {"placement": 120, "report-back": 20}
    assert await credits("PL007") == {"report-back": 20}
    assert await credits(SILENT) == {"placement": 120}
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT rule, participant_id, count(*) FROM reminder_outbox WHERE cohort_id = %s "
            "GROUP BY rule, participant_id ORDER BY rule, participant_id",
            (COHORT,),
        )
        reminded = await cur.fetchall()
    # Report-back is reminded 7 days and 1 day before it closes, to the one who has not reported; everyone
    # else had handed in what their rules ask for when they fired.
    assert reminded == [("report-back", SILENT, 2)]
    assert counts["RemindersQueued"] == 7  # every occurrence is recorded, with or without recipients

    previewed = await api.http.post(
        f"/api/v1/cohorts/{COHORT}/reminders/report-back/preview",
        json={"participant_id": SILENT},
        headers=api.as_("admin"),
    )
    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["body"].endswith("校长：返岗汇报将于<deadline>截止。")

    funding = await api.http.get(f"/api/v1/cohorts/{COHORT}/funding", headers=api.as_("admin"))
    assert funding.status_code == 200, funding.text
    lines = [(r["block"], r["item"], r["payer"], r["people"], r["total_yuan"]) for r in funding.json()["rows"]]
    assert lines == [
        ("placement", "training", "organiser", 20, 120_000),
        ("placement", "travel", "county", 20, None),
        ("placement", "board", "county", 20, None),
    ]
    assert funding.json()["totals_by_payer"] == {"organiser": 120_000}
    elsewhere = await api.http.get(f"/api/v1/cohorts/{COHORT}/funding", headers=api.as_("coordinator"))
    assert {r["people"] for r in elsewhere.json()["rows"]} == {0}  # none of the coordinator's prefecture

    verified = await api.http.post("/api/v1/audit/verify", params={"cohort": COHORT}, headers=api.as_("auditor"))
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
