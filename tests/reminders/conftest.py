"""A real SMTP server (aiosmtpd) and a real HTTP receiver on loopback, started by the tests.

The SMTP server keeps every message it accepts, with its Message-ID and the
moment it arrived, and can be told to refuse some recipients. The HTTP receiver
checks each request's signature the way docs/reminders.md tells a gateway to,
answers 401 to a bad one, and otherwise answers what the test scripts (200 by
default).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from cohortflow.reminders.outbox import OutboxMessage, enqueue, reminder_key
from cohortflow.store.eventstore import EventStore

SHANGHAI = "Asia/Shanghai"
LONG_AGO = datetime(2024, 5, 1, tzinfo=UTC)
WEBHOOK_SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: float
    """time.monotonic() when the server accepted it."""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def reminder(self) -> str:
        return str(self.message["X-Cohortflow-Reminder"])


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts; ``refuse`` maps an address to the RCPT answer."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        answer = self.refuse.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = BytesParser(policy=default_policy).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, time.monotonic()))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    host: str = "127.0.0.1"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="mail.test")
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: bytes
    signed: bool
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


def signature_is_valid(secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300) -> bool:
    """What a gateway does, as docs/reminders.md describes it (written here independently of the sender's code)."""
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature) and abs(time.time() - int(timestamp)) <= tolerance


@dataclass
class Receiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    answer: Callable[[dict[str, Any]], int] = lambda payload: 200
    """The status for a request (given its JSON payload) whose signature is good."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/reminders")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the channel expects

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signed = signature_is_valid(
                WEBHOOK_SECRET,
                self.headers.get("X-Cohortflow-Timestamp", "0"),
                body,
                self.headers.get("X-Cohortflow-Signature", ""),
            )
            status = receiver.answer(json.loads(body)) if signed else 401
            with receiver.lock:
                receiver.requests.append(Request(dict(self.headers.items()), body, signed, status))
            reply = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def outbox_message(
    n: int,
    *,
    cohort: str = "rm1",
    channel: str = "email",
    address: str | None = None,
    rule: str = "hours-7d",
    occurrence: str = "online_study@2024-05-20-7d",
    due: datetime = LONG_AGO,
    quiet: tuple[clock_time, clock_time] | None = None,
    time_zone: str = SHANGHAI,
) -> OutboxMessage:
    recipient = f"P{n:05d}"
    if address is None:
        address = f"{recipient.lower()}@school.example" if channel == "email" else f"+86138{n:08d}"
    return OutboxMessage(
        reminder=reminder_key(rule, recipient, occurrence),
        cohort_id=cohort,
        stream_id=f"cohort-{cohort}",
        rule=rule,
        occurrence=occurrence,
        recipient=recipient,
        participant_id=recipient,
        channel=channel,  # type: ignore[arg-type]
        address=address,
        locale="zh",
        subject="线上研修学时提醒",
        body=f"{recipient} 老师您好：线上研修将于 5 月 27 日结束，您的学时尚未达到要求。",
        time_zone=time_zone,
        quiet_start=quiet[0] if quiet else None,
        quiet_end=quiet[1] if quiet else None,
        status="pending",
        last_error=None,
        next_attempt_at=due,
        actor="system:cohort-cycle",
        workflow_id=f"cohort-{cohort}",
        programme_id="guopei-party-secretary",
        programme_version=1,
    )


async def queue(store: EventStore, messages: Sequence[OutboxMessage]) -> int:
    async with store.pool.connection() as conn, conn.transaction():
        return await enqueue(conn, messages)


async def outbox_rows(store: EventStore) -> dict[str, dict[str, Any]]:
    """Every outbox row by reminder key, as a dict of its columns."""
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM reminder_outbox")
        names = [c.name for c in cur.description or ()]
        return {row[0]: dict(zip(names, row, strict=True)) for row in await cur.fetchall()}
