"""The dispatcher against a real SMTP server, a real HTTP receiver and the real store."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from cohortflow.reminders.channels.smtp import message_id
from cohortflow.reminders.delivery import Delivery
from cohortflow.reminders.dispatcher import DispatchCounts, Dispatcher
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent
from tests.reminders.conftest import (
    SHANGHAI,
    WEBHOOK_SECRET,
    Clock,
    Receiver,
    SmtpServer,
    outbox_message,
    outbox_rows,
    queue,
)

TZ = ZoneInfo(SHANGHAI)
QUIET = (time(21, 0), time(8, 0))
SENDER = "国培项目办 <peixun@edu.example>"


async def make_dispatcher(
    store: EventStore,
    clock: Clock | None = None,
    *,
    smtp: SmtpServer | None = None,
    webhook: Receiver | None = None,
    **overrides: Any,
) -> Dispatcher:
    settings = Settings(
        smtp_host=smtp.host if smtp else None,
        smtp_port=smtp.port if smtp else 25,
        smtp_from=SENDER,
        webhook_url=webhook.url if webhook else None,
        webhook_secret=WEBHOOK_SECRET,
        **overrides,
    )
    if clock is None:
        return await Dispatcher.from_settings(store, settings)
    return await Dispatcher.from_settings(store, settings, clock=clock)


async def run_once(dispatcher: Dispatcher) -> DispatchCounts:
    try:
        return await dispatcher.run_once()
    finally:
        await dispatcher.close()


async def reminder_events(store: EventStore, cohort: str = "rm1") -> list[StoredEvent]:
    return [e async for e in store.read_stream(f"cohort-{cohort}")]


def by_type(events: list[StoredEvent], kind: str) -> list[StoredEvent]:
    return [e for e in events if e.type == kind]


async def test_email_and_webhook_messages_are_sent_and_recorded(
    store: EventStore, smtp_server: SmtpServer, webhook_receiver: Receiver
) -> None:
    emails = [outbox_message(i) for i in range(3)]
    hooks = [outbox_message(i, channel="webhook") for i in range(3, 5)]
    assert await queue(store, emails + hooks) == 5
    clock = Clock(datetime(2024, 5, 20, 10, 0, tzinfo=TZ))

    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server, webhook=webhook_receiver)) == (
        DispatchCounts(sent=5)
    )

    identity = await store.store_id()
    mail = smtp_server.mailbox.snapshot()
    assert sorted(m.message_id for m in mail) == sorted(message_id(identity, m.reminder, "edu.example") for m in emails)
    for received in mail:
        [queued] = [m for m in emails if m.reminder == received.reminder]
        assert received.rcpt_tos == [queued.address]
        assert received.mail_from == "peixun@edu.example"
        assert received.message["Subject"] == "线上研修学时提醒"
        assert received.message["Content-Language"] == "zh-CN"
        assert "学时尚未达到要求" in received.message.get_content()

    requests = webhook_receiver.snapshot()
    assert len(requests) == 2 and all(r.signed and r.status == 200 for r in requests)
    assert {r.headers["Idempotency-Key"] for r in requests} == {m.reminder for m in hooks}
    for request in requests:
        [queued] = [m for m in hooks if m.reminder == request.payload["reminder"]]
        assert request.payload["address"] == queued.address
        assert request.payload["body"] == queued.body and request.payload["attempt"] == 1

    sent = by_type(await reminder_events(store), "ReminderSent")
    assert sorted(e.data["reminder"] for e in sent) == sorted(m.reminder for m in emails + hooks)
    for event in sent:
        assert event.idempotency_key == f"reminder/{event.data['reminder']}/sent#0"
        assert event.data["attempt"] == 1
        assert event.metadata["actor"] == "system:cohort-cycle"
        assert event.metadata["programme_id"] == "guopei-party-secretary"
        assert event.metadata["workflow_id"] == "cohort-rm1"
    rows = await outbox_rows(store)
    assert {(r["status"], r["attempts"], r["sent_at"]) for r in rows.values()} == {("sent", 1, clock.now)}

    # Nothing is due any more: a second pass sends nothing.
    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server, webhook=webhook_receiver)) == (
        DispatchCounts()
    )
    assert len(smtp_server.mailbox.snapshot()) == 3 and len(webhook_receiver.snapshot()) == 2


async def test_transient_failures_back_off_and_give_up_after_max_attempts(
    store: EventStore, webhook_receiver: Receiver
) -> None:
    down, flaky, refused = (outbox_message(i, channel="webhook") for i in (1, 2, 3))
    answered: Counter[str] = Counter()

    def answer(payload: dict[str, Any]) -> int:
        answered[payload["recipient"]] += 1
        if payload["recipient"] == flaky.recipient:
            return 503 if answered[flaky.recipient] == 1 else 200
        return 400 if payload["recipient"] == refused.recipient else 503

    webhook_receiver.answer = answer
    await queue(store, [down, flaky, refused])
    clock = Clock(datetime(2024, 5, 20, 10, 0, tzinfo=TZ))
    t0 = clock.now
    policy: dict[str, Any] = {"max_attempts": 3, "retry_base_seconds": 10, "retry_cap_seconds": 15}

    async def dispatch() -> DispatchCounts:
        return await run_once(await make_dispatcher(store, clock, webhook=webhook_receiver, **policy))

    assert await dispatch() == DispatchCounts(failed=2, gave_up=1)
    failed = by_type(await reminder_events(store), "ReminderDeliveryFailed")
    assert {e.data["reminder"] for e in failed} == {down.reminder, flaky.reminder}
    for event in failed:
        assert event.idempotency_key == f"reminder/{event.data['reminder']}/attempt/1#0"
        assert event.data["error"].startswith("webhook answered 503")
        retry_at = datetime.fromisoformat(event.data["retry_at"])
        assert timedelta(seconds=5) <= retry_at - t0 <= timedelta(seconds=10)  # base 10 s, jittered down ≤ half
    [refusal] = by_type(await reminder_events(store), "ReminderGaveUp")
    assert refusal.data["reminder"] == refused.reminder and refusal.data["attempts"] == 1
    assert refusal.data["reason"].startswith("webhook answered 400")

    assert await dispatch() == DispatchCounts()  # nothing is due before its retry time

    clock.now = max(datetime.fromisoformat(e.data["retry_at"]) for e in failed)
    assert await dispatch() == DispatchCounts(sent=1, failed=1)
    [second] = [e for e in by_type(await reminder_events(store), "ReminderDeliveryFailed") if e.data["attempt"] == 2]
    retry_at = datetime.fromisoformat(second.data["retry_at"])
    assert timedelta(seconds=7.5) <= retry_at - clock.now <= timedelta(seconds=15)  # 20 s, capped at 15, jittered

    clock.now = retry_at
    assert await dispatch() == DispatchCounts(gave_up=1)

    events = await reminder_events(store)
    [flaky_sent] = by_type(events, "ReminderSent")
    assert flaky_sent.data["reminder"] == flaky.reminder and flaky_sent.data["attempt"] == 2
    gave_up = {e.data["reminder"]: e.data for e in by_type(events, "ReminderGaveUp")}
    assert gave_up[down.reminder]["attempts"] == 3
    assert gave_up[down.reminder]["reason"].startswith("3 attempts failed; the last: webhook answered 503")
    rows = await outbox_rows(store)
    assert (rows[down.reminder]["status"], rows[down.reminder]["attempts"]) == ("gave_up", 3)
    assert (rows[flaky.reminder]["status"], rows[flaky.reminder]["attempts"]) == ("sent", 2)
    assert (rows[refused.reminder]["status"], rows[refused.reminder]["attempts"]) == ("gave_up", 1)
    assert answered == {down.recipient: 3, flaky.recipient: 2, refused.recipient: 1}
    keys = Counter(r.headers["Idempotency-Key"] for r in webhook_receiver.snapshot())
    assert keys == {down.reminder: 3, flaky.reminder: 2, refused.reminder: 1}  # the same key on every resend

    listed = await Delivery(store).given_up("rm1")
    assert [(g.reminder, g.attempts, g.channel) for g in listed] == sorted(
        [(down.reminder, 3, "webhook"), (refused.reminder, 1, "webhook")]
    )
    assert all(g.reason == rows[g.reminder]["last_error"] for g in listed)
    assert await Delivery(store).given_up("another-cohort") == []
    [first] = await Delivery(store).given_up("rm1", limit=1)
    rest = await Delivery(store).given_up("rm1", after=(first.cohort_id, first.queued_at, first.reminder))
    assert [first, *rest] == listed  # a page after the last one's key: the list again, in order


async def test_smtp_refusals_permanent_and_transient(
    database_url: str, store: EventStore, smtp_server: SmtpServer
) -> None:
    nobody = outbox_message(1, address="nobody@school.example")
    busy = outbox_message(2, address="busy@school.example")
    fine = outbox_message(3)
    smtp_server.mailbox.refuse = {
        "nobody@school.example": "550 5.1.1 No such mailbox",
        "busy@school.example": "451 4.3.0 Mailbox busy, try again later",
    }
    await queue(store, [nobody, busy, fine])
    clock = Clock(datetime(2024, 5, 20, 10, 0, tzinfo=TZ))

    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts(
        sent=1, failed=1, gave_up=1
    )

    assert [m.reminder for m in smtp_server.mailbox.snapshot()] == [fine.reminder]
    events = await reminder_events(store)
    [gave_up] = by_type(events, "ReminderGaveUp")
    assert gave_up.data["reminder"] == nobody.reminder
    assert gave_up.data["reason"] == "recipient refused: 550 5.1.1 No such mailbox"
    [failed] = by_type(events, "ReminderDeliveryFailed")
    assert failed.data["reminder"] == busy.reminder and failed.data["error"].startswith("recipient refused: 451")

    # Administrators see the refusal, with the address and the reason.
    from cohortflow.cli.main import app

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["reminder", "failures", "--cohort", "rm1"],
        env={"DATABASE_URL": database_url, "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) given up" in result.stdout
    assert "nobody@school.example" in result.stdout and "550 5.1.1 No such mailbox" in result.stdout
    assert nobody.reminder in result.stdout and busy.reminder not in result.stdout


async def test_quiet_hours_hold_messages_until_morning(store: EventStore, smtp_server: SmtpServer) -> None:
    message = outbox_message(1, quiet=QUIET)
    await queue(store, [message])
    clock = Clock(datetime(2024, 5, 20, 23, 0, tzinfo=TZ))

    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts(held=1)
    assert smtp_server.mailbox.snapshot() == []
    row = (await outbox_rows(store))[message.reminder]
    morning = datetime(2024, 5, 21, 8, 0, tzinfo=TZ)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, morning)  # no attempt counted
    assert await reminder_events(store) == []  # holding is not an event: nothing happened to the message

    clock.now = morning - timedelta(seconds=1)
    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts()
    clock.now = morning
    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts(sent=1)
    assert [m.reminder for m in smtp_server.mailbox.snapshot()] == [message.reminder]
    [sent] = await reminder_events(store)
    assert sent.type == "ReminderSent" and sent.data["attempt"] == 1


async def test_a_retry_that_would_fall_in_quiet_hours_waits_for_morning(
    store: EventStore, smtp_server: SmtpServer
) -> None:
    busy = outbox_message(1, address="busy@school.example", quiet=QUIET)
    smtp_server.mailbox.refuse = {"busy@school.example": "451 4.3.0 Mailbox busy"}
    await queue(store, [busy])
    clock = Clock(datetime(2024, 5, 20, 20, 59, 30, tzinfo=TZ))

    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts(failed=1)
    [failed] = await reminder_events(store)
    assert datetime.fromisoformat(failed.data["retry_at"]) == datetime(2024, 5, 21, 8, 0, tzinfo=TZ)


async def test_rate_limit_spaces_the_sends(store: EventStore, smtp_server: SmtpServer) -> None:
    count, rate = 30, 20
    await queue(store, [outbox_message(i) for i in range(count)])

    counts = await run_once(await make_dispatcher(store, smtp=smtp_server, email_rate=rate, smtp_connections=4))

    assert counts == DispatchCounts(sent=count)
    moments = sorted(m.at for m in smtp_server.mailbox.snapshot())
    assert len(moments) == count
    # 20 per second in bursts of at most 2: ideally 1.4 s for 30; loosely, at least 1 s.
    assert moments[-1] - moments[0] >= 1.0
    busiest = max(sum(1 for t in moments if start <= t < start + 1.0) for start in moments)
    assert busiest <= rate + 4


async def test_a_channel_not_configured_gives_its_messages_up(store: EventStore, smtp_server: SmtpServer) -> None:
    hook = outbox_message(1, channel="webhook")
    await queue(store, [hook])

    assert await run_once(await make_dispatcher(store, smtp=smtp_server)) == DispatchCounts(gave_up=1)

    [gave_up] = await reminder_events(store)
    assert gave_up.type == "ReminderGaveUp"
    assert gave_up.data["reason"] == "no webhook URL configured (COHORTFLOW_WEBHOOK_URL)"
    [listed] = await Delivery(store).given_up()
    assert listed.reason == gave_up.data["reason"] and listed.at == gave_up.recorded_at


async def test_a_lapsed_claim_is_taken_again_and_late_reports_change_nothing(
    store: EventStore, smtp_server: SmtpServer
) -> None:
    message = outbox_message(1)
    await queue(store, [message])
    delivery = Delivery(store)
    t0 = datetime(2024, 5, 20, 10, 0, tzinfo=TZ)
    lease = timedelta(seconds=30)

    [first] = await delivery.claim(t0, limit=10, lease=lease)  # a dispatcher that then hangs or dies
    assert first.attempt == 1 and first.claimed_until == t0 + lease
    assert await delivery.claim(t0 + timedelta(seconds=29), limit=10, lease=lease) == []

    clock = Clock(t0 + timedelta(seconds=31))
    assert await run_once(await make_dispatcher(store, clock, smtp=smtp_server)) == DispatchCounts(sent=1)

    # The first claimer comes back: its reports are stale and record nothing.
    assert not await delivery.failed(first, "timed out", t0 + timedelta(minutes=5))
    assert not await delivery.gave_up(first, "refused")
    assert not await delivery.release(first, t0)
    assert not await delivery.sent(first, t0 + timedelta(seconds=40))
    [sent] = await reminder_events(store)
    assert sent.type == "ReminderSent" and sent.data["attempt"] == 2
    row = (await outbox_rows(store))[message.reminder]
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(smtp_server.mailbox.snapshot()) == 1


async def test_dispatch_once_from_the_command_line(
    database_url: str, store: EventStore, smtp_server: SmtpServer
) -> None:
    from cohortflow.cli.main import app as cli
    from cohortflow.cli.reminders import app

    await queue(store, [outbox_message(i) for i in range(2)])
    env = {
        "DATABASE_URL": database_url,
        "COHORTFLOW_SMTP_HOST": smtp_server.host,
        "COHORTFLOW_SMTP_PORT": str(smtp_server.port),
        "COHORTFLOW_LOG_LEVEL": "warning",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, ["dispatch", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 2, failed 0, gave up 0, held 0, released 0, errors 0" in result.stdout
    assert len(smtp_server.mailbox.snapshot()) == 2

    unconfigured = {"DATABASE_URL": database_url, "COHORTFLOW_SMTP_HOST": "", "COHORTFLOW_WEBHOOK_URL": ""}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["dispatch", "--once"], env=unconfigured)
    assert result.exit_code == 2 and "no channel configured" in result.stderr
    unsigned = unconfigured | {"COHORTFLOW_WEBHOOK_URL": "http://127.0.0.1:9/hook", "COHORTFLOW_WEBHOOK_SECRET": ""}
    said_in = {"en": "COHORTFLOW_WEBHOOK_SECRET must be set", "zh": "时必须同时设置 COHORTFLOW_WEBHOOK_SECRET"}
    for lang, said in said_in.items():
        args = ["--lang", lang, "reminder", "dispatch", "--once"]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=unsigned)
        # The console wraps the line at its width (80 columns where no terminal says otherwise).
        assert result.exit_code == 2 and said in " ".join(result.stderr.split()), result.stderr
