"""A signed JSON POST per message, for SMS or WeChat gateways (or anything else that speaks HTTP).

Headers (see docs/reminders.md, "Webhook signature"):

- ``Idempotency-Key``: the reminder key (percent-encoded where it is not
  printable ASCII), the same on every send of one reminder;
- ``X-Cohortflow-Timestamp``: Unix seconds when the request was signed;
- ``X-Cohortflow-Signature``: ``sha256=`` and the hex HMAC-SHA256, under the
  shared secret, of ``"{timestamp}.{body}"`` (the body's exact bytes).

A 2xx answer is acceptance. 408, 429, 5xx and failures to connect or to get an
answer in time are transient; any other answer is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from cohortflow.domain.phrases import phrase
from cohortflow.reminders.channels import PermanentFailure, TransientFailure
from cohortflow.reminders.delivery import Claimed

TRANSIENT_STATUSES = frozenset({408, 429})
KEY_SAFE = "/:@+-._~!$&'()*,;="
EXCERPT = 200


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Cohortflow-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(message: Claimed) -> dict[str, Any]:
    return {
        "reminder": message.reminder,
        "cohort_id": message.cohort_id,
        "rule": message.rule,
        "occurrence": message.occurrence,
        "recipient": message.recipient,
        "participant_id": message.participant_id,
        "address": message.address,
        "locale": message.locale,
        "subject": message.subject,
        "body": message.body,
        "attempt": message.attempt,
    }


class WebhookChannel:
    def __init__(self, *, url: str, secret: str, connections: int = 4, timeout: float = 30.0) -> None:
        if not secret:
            raise ValueError(phrase("a webhook needs a shared secret to sign its requests"))
        self.url = url
        self._secret = secret
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
        )

    def request(self, message: Claimed) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST for ``message``."""
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": quote(message.reminder, safe=KEY_SAFE),
            "X-Cohortflow-Timestamp": timestamp,
            "X-Cohortflow-Signature": sign(self._secret, timestamp, body),
        }
        return body, headers

    async def send(self, message: Claimed) -> None:
        body, headers = self.request(message)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransientFailure(
                phrase("webhook unreachable: {error}: {why}", error=type(exc).__name__, why=exc)
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        answer, excerpt = f"{status} {response.reason_phrase}", response.text[:EXCERPT].rstrip(": ")
        reason = (
            phrase("webhook answered {answer}: {excerpt}", answer=answer, excerpt=excerpt)
            if excerpt
            else phrase("webhook answered {answer}", answer=answer.rstrip(": "))
        )
        if status in TRANSIENT_STATUSES or status >= 500:
            raise TransientFailure(reason)
        raise PermanentFailure(reason)

    async def close(self) -> None:
        await self._client.aclose()
