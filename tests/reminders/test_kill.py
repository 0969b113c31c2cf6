"""A dispatcher killed mid-batch (SIGKILL) and restarted sends every message exactly once.

"Exactly once" means what the design can promise across a ``kill -9``:

- every reminder reaches the mailbox, under one Message-ID of its own;
- the history holds exactly one ReminderSent per reminder;
- a message is delivered twice only if the server had accepted it while its
  ``sent`` was not yet committed when the process died; it is then resent after
  its lease, with the same Message-ID (RFC 5321 §6.1: the receiver may drop the
  copy). Such messages are still claimed (``sending``) at the kill, and there
  are never more of them than the dispatcher keeps in flight (two per SMTP
  connection).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cohortflow.reminders.channels.smtp import message_id
from cohortflow.store.eventstore import EventStore
from tests.reminders.conftest import SmtpServer, outbox_message, outbox_rows, queue

REPOSITORY = Path(__file__).resolve().parents[2]
COUNT = 300
CONNECTIONS = 4
IN_FLIGHT = 2 * CONNECTIONS
"""Messages the dispatcher may have sent but not yet recorded: two per SMTP connection."""
LEASE_SECONDS = 2


async def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def start_dispatcher(database_url: str, smtp: SmtpServer, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTFLOW_")}
    env |= {
        "DATABASE_URL": database_url,
        "COHORTFLOW_SMTP_HOST": smtp.host,
        "COHORTFLOW_SMTP_PORT": str(smtp.port),
        "COHORTFLOW_SMTP_FROM": "peixun@edu.example",
        "COHORTFLOW_SMTP_CONNECTIONS": str(CONNECTIONS),
        "COHORTFLOW_EMAIL_RATE": "300",
        "COHORTFLOW_DISPATCH_BATCH": "50",
        "COHORTFLOW_DISPATCH_INTERVAL": "0.2",
        "COHORTFLOW_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "COHORTFLOW_LOG_LEVEL": "warning",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cohortflow.cli.reminders", "dispatch"],
            cwd=REPOSITORY,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_dispatcher_killed_mid_batch_and_restarted_sends_every_message_exactly_once(
    database_url: str, store: EventStore, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    messages = [outbox_message(i) for i in range(COUNT)]
    await queue(store, messages)
    mailbox = smtp_server.mailbox
    log = tmp_path / "dispatcher.log"

    first = start_dispatcher(database_url, smtp_server, log)
    try:
        await wait_for(lambda: len(mailbox.snapshot()) >= COUNT // 5, 60, "the first deliveries")
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    # Let the server finish whatever the dead client had already handed over: wait until the mailbox is still.
    seen = -1
    while seen != len(mailbox.snapshot()):
        seen = len(mailbox.snapshot())
        await asyncio.sleep(0.5)

    at_kill = await outbox_rows(store)
    claimed = {key for key, row in at_kill.items() if row["status"] == "sending"}
    recorded = {key for key, row in at_kill.items() if row["status"] == "sent"}
    delivered = {m.reminder for m in mailbox.snapshot()}
    assert 0 < len(delivered) < COUNT, "the kill was meant to fall mid-run"
    unrecorded = delivered - recorded  # accepted by the server, but `sent` not committed
    assert unrecorded <= claimed
    assert len(unrecorded) <= IN_FLIGHT, "no more sent-but-unrecorded messages than messages in flight"

    second = start_dispatcher(database_url, smtp_server, log)
    try:

        async def all_sent() -> bool:
            return all(row["status"] == "sent" for row in (await outbox_rows(store)).values())

        deadline = time.monotonic() + 60
        while not await all_sent():
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not everything was sent:\n{log.read_text()}"
            await asyncio.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, log.read_text()  # a graceful stop
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    identity = await store.store_id()
    received = mailbox.snapshot()
    per_id = Counter(m.message_id for m in received)
    expected = {message_id(identity, m.reminder, "edu.example") for m in messages}
    assert set(per_id) == expected  # every reminder arrived, each under its own Message-ID
    for m in received:
        assert m.message_id == message_id(identity, m.reminder, "edu.example")  # a resend is the same message
    resent = {m.reminder for m in received if per_id[m.message_id] > 1}
    assert resent <= unrecorded and max(per_id.values()) <= 2
    assert len(received) - len(per_id) == len(resent) <= IN_FLIGHT

    sent_events = Counter([e.data["reminder"] async for e in store.read_stream("cohort-rm1", types=["ReminderSent"])])
    assert sent_events == {m.reminder: 1 for m in messages}  # exactly one ReminderSent per reminder
    assert [e async for e in store.read_stream("cohort-rm1", types=["ReminderGaveUp"])] == []
    print(f"delivered at the kill {len(delivered)}, unrecorded {len(unrecorded)}, resent {len(resent)}")
