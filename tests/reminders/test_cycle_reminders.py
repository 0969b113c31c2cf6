"""Reminders through a whole cohort cycle on the time-skipping server, checked against the recorded facts.

The cycle queues them; the dispatcher then hands them to a real SMTP server and
a real webhook receiver, and exactly the expected people receive exactly the
expected messages.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.quiet_hours import QuietHours
from cohortflow.services.cohorts import start_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import CohortCycleInput, CohortCycleWorkflow, FileImport
from tests.reminders.conftest import Clock, Receiver, SmtpServer
from tests.reminders.test_dispatch import make_dispatcher, run_once
from tests.workflows.helpers import feed_phase, feed_until_done, running_worker, terminate_cohorts

CANDIDATES, SELECTED = 300, 40
REQUIRED_HOURS = 100


def cycle_input(cohort_id: str) -> CohortCycleInput:
    return CohortCycleInput(cohort_id=cohort_id, programme=sample_programme(CANDIDATES, SELECTED, reminders=True))


async def outbox(store: EventStore, cohort_id: str) -> list[dict[str, Any]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT reminder, rule, occurrence, recipient, participant_id, channel, address, locale, subject, body, "
            "status, last_error, next_attempt_at, time_zone FROM reminder_outbox WHERE cohort_id = %s",
            (cohort_id,),
        )
        assert cur.description is not None
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def expected_recipients(store: EventStore, cohort_id: str) -> dict[str, set[str]]:
    """Who each rule should reach, worked out from the recorded facts, not from the read models."""
    hours: dict[str, float] = {}
    handed: dict[str, set[str]] = defaultdict(set)
    selected: set[str] = set()
    reported: set[str] = set()
    answered: dict[str, set[str]] = defaultdict(set)
    async for e in store.read_stream(f"cohort-{cohort_id}"):
        if e.type == "CandidateNominated":
            hours[e.data["participant_id"]] = 0.0
        elif e.type == "StudyHoursRecorded":
            hours[e.data["participant_id"]] = e.data["hours"]
        elif e.type == "DeliverableSubmitted":
            handed[e.data["participant_id"]].add(e.data["deliverable"])
        elif e.type == "SelectionDecided":
            selected = set(e.data["selected"])
        elif e.type == "ReturnReportSubmitted":
            reported.add(e.data["participant_id"])
        elif e.type == "SurveyResponded":
            answered[e.data["survey"]].add(e.data["participant_id"])
    return {
        "study-hours": {p for p, h in hours.items() if h < REQUIRED_HOURS},
        "reflection": {p for p in hours if "reflection" not in handed[p]},
        "return-report": selected - reported,
        "survey-m1": selected - answered["m1"],
        "survey-m6": selected - answered["m6"],
    }


async def test_a_whole_cycle_reminds_exactly_who_is_behind(
    time_skipping: WorkflowEnvironment,
    store: EventStore,
    task_queue: str,
    smtp_server: SmtpServer,
    webhook_receiver: Receiver,
    tmp_path: Path,
) -> None:
    client = time_skipping.client
    inp = cycle_input("remind")
    try:
        async with running_worker(client, store, task_queue, tmp_path):
            handle = await start_cohort(client, inp, task_queue)
            await feed_until_done(time_skipping, store, tmp_path, "remind", inp.programme, seed=7)
            await handle.result()
    finally:
        await terminate_cohorts(client, store)

    rows = await outbox(store, "remind")
    expected = await expected_recipients(store, "remind")
    occurrences = {"study-hours": 2, "reflection": 1, "return-report": 1, "survey-m1": 3, "survey-m6": 3}
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        by_rule[row["rule"]][row["recipient"]] += 1
    for rule, people in expected.items():
        assert by_rule.get(rule, {}) == dict.fromkeys(people, occurrences[rule]), rule
    assert set(by_rule) <= set(expected)
    assert all(expected[rule] for rule in ("study-hours", "reflection", "return-report", "survey-m1"))

    # Messages go in each reader's language, with their own figures, never inside quiet hours.
    quiet = QuietHours()
    for row in rows:
        local = row["next_attempt_at"].astimezone(ZoneInfo(row["time_zone"])).time()
        assert not quiet.contains(local), row["reminder"]
    hours = next(r for r in rows if r["rule"] == "study-hours" and r["locale"] == "zh")
    assert "网络研修学时" in hours["subject"] and "还差" in hours["body"]
    assert next(r for r in rows if r["locale"] == "en")["subject"].startswith(sample_programme().name)

    # No address, no message: given up at once with the reason, the rest still queued.
    unreachable = [r for r in rows if r["address"] is None]
    assert unreachable and all(r["status"] == "gave_up" for r in unreachable)
    assert {r["last_error"] for r in unreachable} == {"no email address on record"}
    assert all(r["status"] == "pending" for r in rows if r["address"] is not None)
    assert {r["channel"] for r in rows if r["rule"] == "return-report"} == {"webhook"}

    events = Counter([e.type async for e in store.read_stream("cohort-remind")])
    assert events["RemindersQueued"] == sum(occurrences.values())
    assert events["ReminderGaveUp"] == len(unreachable)

    # Hand them over, at a moment after the whole programme (noon in Shanghai).
    after = Clock(datetime(2100, 1, 1, 4, 0, tzinfo=UTC))
    dispatcher = await make_dispatcher(store, after, smtp=smtp_server, webhook=webhook_receiver)
    counts = await run_once(dispatcher)
    deliverable = [r for r in rows if r["status"] == "pending"]
    assert counts.sent == len(deliverable) and counts.gave_up == 0
    mail = {(m.reminder, tuple(m.rcpt_tos)) for m in smtp_server.mailbox.snapshot()}
    assert mail == {(r["reminder"], (r["address"],)) for r in deliverable if r["channel"] == "email"}
    assert len(smtp_server.mailbox.snapshot()) == len(mail)
    hooks = [(q.payload["reminder"], q.payload["address"]) for q in webhook_receiver.snapshot()]
    assert sorted(hooks) == sorted((r["reminder"], r["address"]) for r in deliverable if r["channel"] == "webhook")
    sent = [e.data["reminder"] async for e in store.read_stream("cohort-remind", types=["ReminderSent"])]
    assert sorted(sent) == sorted(r["reminder"] for r in deliverable)


async def test_work_done_before_the_deadline_ends_that_persons_reminders(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    client = time_skipping.client
    inp = cycle_input("catch-up")
    try:
        async with running_worker(client, store, task_queue, uploads=tmp_path):
            handle = await start_cohort(client, inp, task_queue)
            # Online study closes on day 120: by day 116 the 7-day reminder has gone out, the 1-day one not yet.
            for phase, days in (("nomination", 31), ("online_study", 85)):
                await feed_phase(client, store, tmp_path, "catch-up", inp.programme, phase, seed=7)
                await time_skipping.sleep(timedelta(days=days))
            first = [r for r in await outbox(store, "catch-up") if r["rule"] == "study-hours"]
            assert first and {r["occurrence"].rsplit("-", 1)[1] for r in first} == {"7d"}
            catching_up = sorted(r["recipient"] for r in first)[:3]

            csv = "participant_id,hours\n" + "".join(f"{p},{REQUIRED_HOURS + 20}\n" for p in catching_up)
            digest = hashlib.sha256(csv.encode()).hexdigest()
            (tmp_path / digest).write_text(csv)
            wf = client.get_workflow_handle_for(CohortCycleWorkflow.run, handle.id)
            applied = await wf.execute_update(
                CohortCycleWorkflow.import_file, FileImport(kind="study_records", digest=digest, filename="hours.csv")
            )
            assert applied.status == "applied"
            await time_skipping.sleep(timedelta(days=5))
            rows = [r for r in await outbox(store, "catch-up") if r["rule"] == "study-hours"]
    finally:
        await terminate_cohorts(client, store)

    last_call = {r["recipient"] for r in rows if r["occurrence"].endswith("-1d")}
    still_behind = {r["recipient"] for r in first} - set(catching_up)
    assert last_call == still_behind
    assert not last_call & set(catching_up)
