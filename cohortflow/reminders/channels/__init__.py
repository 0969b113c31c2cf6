"""Delivery channels: how a claimed outbox message leaves the building.

A channel's ``send`` returns when the other side has accepted the message, and
otherwise raises :class:`TransientFailure` (worth trying again later: a relay
down, a 4xx, a timeout) or :class:`PermanentFailure` (trying again cannot help:
an unknown mailbox, a request the gateway refuses), each with a reason that is
recorded in the history. Both channels tell the receiver which reminder a
message is (``Message-ID``/``X-Cohortflow-Reminder`` for email,
``Idempotency-Key`` for webhooks), so a message sent again after a crash can be
recognised as the same one.
"""

from __future__ import annotations

from typing import Protocol

from cohortflow.reminders.delivery import Claimed


class DeliveryFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientFailure(DeliveryFailure):
    """The message may go through later."""


class PermanentFailure(DeliveryFailure):
    """The message will never go through as it is."""


class Channel(Protocol):
    async def send(self, message: Claimed) -> None:
        """Hand ``message`` over; raise TransientFailure or PermanentFailure if it was not accepted."""

    async def close(self) -> None:
        """Close connections kept open between sends."""


__all__ = ["Channel", "DeliveryFailure", "PermanentFailure", "TransientFailure"]
