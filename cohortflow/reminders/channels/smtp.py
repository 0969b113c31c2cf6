"""Email over SMTP (aiosmtplib), on a few connections kept open and reused.

Every message carries a ``Message-ID`` derived from the store's identity and the
reminder key, and the key itself in ``X-Cohortflow-Reminder``: a message sent
again (its dispatcher was killed after the server accepted it but before the
send was recorded) is the same message to the receiver, which may drop the
second copy. RFC 5321 §6.1 expects exactly this of a sender that cannot tell
whether a message was delivered.

Refusals of the recipient or of the content (5xx on RCPT or DATA) are
permanent; anything else — 4xx, a refused sender or login (a configuration
problem an operator can fix), a dropped connection, a timeout — is transient.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import time
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from cohortflow.domain.phrases import phrase
from cohortflow.reminders.channels import PermanentFailure, TransientFailure
from cohortflow.reminders.delivery import Claimed

IDLE_SECONDS = 30.0
"""A connection idle longer than this is reopened rather than trusted: servers close idle clients."""
LANGUAGES = {"zh": "zh-CN", "en": "en"}


def message_id(identity: str, reminder: str, domain: str) -> str:
    """The same ``Message-ID`` for every send of one reminder from one store, and for nothing else."""
    digest = hashlib.sha256(f"{identity}/{reminder}".encode()).hexdigest()[:40]
    return f"<reminder.{digest}@{domain}>"


class _Connection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.used = 0.0


class SmtpChannel:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        identity: str,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        connections: int = 4,
        timeout: float = 30.0,
    ) -> None:
        """``tls``: TLS from the first byte (SMTPS, usually port 465); otherwise STARTTLS when the server offers it.

        ``identity`` (the store's id) makes Message-IDs differ between stores
        that happen to queue the same reminder key.
        """
        self.sender = sender
        self.identity = identity
        name, self._envelope_sender = parseaddr(sender)
        self.domain = self._envelope_sender.rpartition("@")[2] or "cohortflow.invalid"
        self._from_header = formataddr((name, self._envelope_sender), charset="utf-8")
        local_hostname = socket.gethostname()  # not getfqdn(), which can wait on DNS for seconds
        self._all = [
            _Connection(
                aiosmtplib.SMTP(
                    hostname=host,
                    port=port,
                    username=username,
                    password=password,
                    use_tls=tls,
                    start_tls=False if tls else None,
                    timeout=timeout,
                    local_hostname=local_hostname,
                )
            )
            for _ in range(max(1, connections))
        ]
        self._idle: asyncio.LifoQueue[_Connection] = asyncio.LifoQueue()
        for connection in self._all:
            self._idle.put_nowait(connection)

    def compose(self, message: Claimed) -> bytes:
        """The message as sent: UTF-8 text in base64, non-ASCII headers RFC 2047-encoded.

        Written out directly rather than through ``email.message.EmailMessage``,
        whose header parsing cost more than the rest of a send.
        """
        headers = (
            ("From", self._from_header),
            ("To", message.address or ""),
            ("Subject", _header(message.subject)),
            ("Date", format_datetime(datetime.now(UTC))),
            ("Message-ID", message_id(self.identity, message.reminder, self.domain)),
            ("X-Cohortflow-Reminder", _header(message.reminder)),
            ("Content-Language", LANGUAGES.get(message.locale, message.locale)),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'text/plain; charset="utf-8"'),
            ("Content-Transfer-Encoding", "base64"),
        )
        head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
        return head + b"\r\n" + base64.encodebytes(message.body.encode()).replace(b"\n", b"\r\n")

    async def send(self, message: Claimed) -> None:
        address = message.address
        if not address:
            raise PermanentFailure(phrase("no email address"))
        if "\r" in address or "\n" in address:
            raise PermanentFailure(phrase("not a usable email address: it contains a line break"))
        content = self.compose(message)
        connection = await self._idle.get()
        try:
            await self._send(connection, content, address)
        finally:
            connection.used = time.monotonic()
            self._idle.put_nowait(connection)

    async def _send(self, connection: _Connection, content: bytes, address: str) -> None:
        client = connection.client
        if client.is_connected and time.monotonic() - connection.used > IDLE_SECONDS:
            client.close()
        try:
            if not client.is_connected:
                await client.connect()
            options = [] if address.isascii() else ["SMTPUTF8"]
            await client.sendmail(self._envelope_sender, [address], content, mail_options=options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise _by_code(
                refusal.code,
                phrase("recipient refused: {code} {answer}", code=refusal.code, answer=refusal.message),
            ) from None
        except aiosmtplib.SMTPDataError as exc:
            raise _by_code(
                exc.code, phrase("message refused: {code} {answer}", code=exc.code, answer=exc.message)
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            client.close()  # after a refused greeting, login or sender, start the next message afresh
            raise TransientFailure(
                phrase("SMTP server answered {code} {answer}", code=exc.code, answer=exc.message)
            ) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentFailure(phrase("SMTP server cannot take this message: {why}", why=exc)) from None
        except ValueError as exc:
            raise PermanentFailure(phrase("not a usable email address: {why}", why=exc)) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise TransientFailure(
                phrase("SMTP connection failed: {error}: {why}", error=type(exc).__name__, why=exc)
            ) from None

    async def close(self) -> None:
        for connection in self._all:
            if connection.client.is_connected:
                try:
                    await connection.client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    connection.client.close()


def _header(text: str) -> str:
    """``text`` as a header value: verbatim if it is plain ASCII, else RFC 2047-encoded (no line break survives)."""
    if text.isascii() and text.isprintable() and len(text) < 900:
        return text
    return Header(text, "utf-8").encode()


def _by_code(code: int, reason: str) -> PermanentFailure | TransientFailure:
    return PermanentFailure(reason) if code >= 500 else TransientFailure(reason)
