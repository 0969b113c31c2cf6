"""The dispatcher: empties the outbox through the channels, recording every outcome as it happens.

A pass claims a batch of due messages (see :mod:`cohortflow.reminders.delivery`)
and sends them concurrently, within each channel's rate limit (an
``aiolimiter.AsyncLimiter``) and its limit of messages in flight (a semaphore;
the channel's own connections limit the sends themselves). A message holds its
place in flight from its send until its outcome is committed, right after the
send, so the messages sent but not yet recorded never outnumber the places in
flight: that is all a ``kill -9`` can leave behind, and those messages are sent
again, identically, once their lease lapses (docs/reminders.md, "Exactly once").

Quiet hours are checked again at send time with the injected clock: a message
whose moment falls in the recipient's quiet hours (a retry scheduled into the
night, a batch that waited) goes back to the outbox until the window ends,
without counting an attempt. Retries back off exponentially with jitter, up to
a cap and a number of attempts; then, or on a permanent refusal, the message is
given up and listed for administrators.

Logs name messages by a short hash of the reminder key, never by recipient,
address or content, so no ID number can reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import structlog
from aiolimiter import AsyncLimiter

from cohortflow.domain.national_id import mask
from cohortflow.domain.phrases import phrase
from cohortflow.reminders.channels import Channel, PermanentFailure, TransientFailure
from cohortflow.reminders.channels.smtp import SmtpChannel
from cohortflow.reminders.channels.webhook import WebhookChannel
from cohortflow.reminders.delivery import Claimed, Delivery, backoff
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore

Clock = Callable[[], datetime]
log = structlog.get_logger()

UNCONFIGURED = {
    "email": phrase("no SMTP server configured (COHORTFLOW_SMTP_HOST)"),
    "webhook": phrase("no webhook URL configured (COHORTFLOW_WEBHOOK_URL)"),
}
SEND_TIMEOUT = 30.0
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")


def utc_now() -> datetime:
    return datetime.now(UTC)


def ref(reminder: str) -> str:
    """How logs name a reminder: its key may hold a participant id, which logs must not."""
    return hashlib.sha256(reminder.encode()).hexdigest()[:16]


def _scrub(text: str) -> str:
    """A failure reason for the logs, with anything shaped like an ID number masked."""
    return _ID_NUMBER.sub(lambda m: mask(m.group()), text)


class ConfigurationError(Exception):
    """The settings cannot make a working dispatcher."""


def configuration_problem(settings: Settings) -> str | None:
    """What stops the settings from making a working dispatcher, if anything."""
    if settings.webhook_url and not settings.webhook_secret:
        return phrase("COHORTFLOW_WEBHOOK_SECRET must be set with COHORTFLOW_WEBHOOK_URL (requests are signed with it)")
    return None


@dataclass(frozen=True)
class ChannelLimit:
    rate: float | None = None
    """Messages per second at most (None: no limit)."""
    in_flight: int = 8
    """Messages being sent, or sent and having their outcome committed, at once."""

    def limiter(self) -> AsyncLimiter | None:
        if self.rate is None:
            return None
        # Bursts of at most a tenth of a second's worth: steady spacing rather than a second's worth at once.
        burst = max(1.0, self.rate / 10)
        return AsyncLimiter(burst, burst / self.rate)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=60)
    cap: timedelta = timedelta(hours=1)


@dataclass
class DispatchCounts:
    sent: int = 0
    failed: int = 0
    """Transient failures, to be tried again."""
    gave_up: int = 0
    held: int = 0
    """Sent back to the outbox until the recipient's quiet hours end."""
    released: int = 0
    """Sent back unsent because too little of the claim's lease was left."""
    errors: int = 0
    """Outcomes that could not be recorded (the message is claimed again after its lease)."""

    def add(self, other: DispatchCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


class Dispatcher:
    def __init__(
        self,
        store: EventStore,
        channels: Mapping[str, Channel],
        *,
        limits: Mapping[str, ChannelLimit] | None = None,
        batch: int = 200,
        lease: timedelta = timedelta(seconds=60),
        retry: RetryPolicy | None = None,
        interval: float = 1.0,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.delivery = Delivery(store)
        self.channels = dict(channels)
        self.batch = batch
        self.lease = lease
        self.retry = retry or RetryPolicy()
        self.interval = interval
        self.clock = clock
        self._rng = rng or random.Random()
        limits = limits or {}
        chosen = {name: limits.get(name, ChannelLimit()) for name in self.channels}
        self._slots = {name: asyncio.Semaphore(limit.in_flight) for name, limit in chosen.items()}
        self._limiters = {name: limit.limiter() for name, limit in chosen.items()}
        self.in_flight = sum(limit.in_flight for limit in chosen.values())
        """The most messages that can be sent but not yet recorded at any moment."""

    @classmethod
    async def from_settings(cls, store: EventStore, settings: Settings, *, clock: Clock = utc_now) -> Dispatcher:
        """The channels and limits the settings configure; a channel left unconfigured gives its messages up."""
        problem = configuration_problem(settings)
        if problem is not None:
            raise ConfigurationError(problem)
        lease = timedelta(seconds=settings.dispatch_lease_seconds)
        # A send must end well inside its lease, or a second dispatcher could take the message meanwhile.
        timeout = min(SEND_TIMEOUT, settings.dispatch_lease_seconds / 2)
        channels: dict[str, Channel] = {}
        limits: dict[str, ChannelLimit] = {}
        if settings.smtp_host:
            channels["email"] = SmtpChannel(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                identity=await store.store_id(),
                username=settings.smtp_username,
                password=settings.smtp_password,
                tls=settings.smtp_tls,
                connections=settings.smtp_connections,
                timeout=timeout,
            )
            # Two in flight per connection: one being sent while the last one's outcome commits.
            limits["email"] = ChannelLimit(settings.email_rate or None, 2 * settings.smtp_connections)
        if settings.webhook_url and settings.webhook_secret:
            channels["webhook"] = WebhookChannel(
                url=settings.webhook_url,
                secret=settings.webhook_secret,
                connections=settings.webhook_connections,
                timeout=timeout,
            )
            limits["webhook"] = ChannelLimit(settings.webhook_rate or None, 2 * settings.webhook_connections)
        return cls(
            store,
            channels,
            limits=limits,
            batch=settings.dispatch_batch,
            lease=lease,
            retry=RetryPolicy(
                settings.max_attempts,
                timedelta(seconds=settings.retry_base_seconds),
                timedelta(seconds=settings.retry_cap_seconds),
            ),
            interval=settings.dispatch_interval,
            clock=clock,
        )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Empty the outbox, look again every ``interval`` seconds, until ``stop`` is set.

        Messages being sent when ``stop`` is set are finished and recorded first.
        """
        log.info("reminder dispatcher started", channels=sorted(self.channels), lease=self.lease.total_seconds())
        while not stop.is_set():
            try:
                counts = await self.run_once(stop)
            except Exception:  # the database gone for a moment: claims lapse and are taken again
                log.exception("reminder dispatch pass failed")
            else:
                if counts.total:
                    log.info("reminders dispatched", **asdict(counts))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        log.info("reminder dispatcher stopped")

    async def run_once(self, stop: asyncio.Event | None = None) -> DispatchCounts:
        """Send whatever is due now, batch after batch, until nothing is (or ``stop`` is set)."""
        total = DispatchCounts()
        while stop is None or not stop.is_set():
            claimed = await self.delivery.claim(self.clock(), limit=self.batch, lease=self.lease)
            if not claimed:
                break
            counts = DispatchCounts()
            await asyncio.gather(*(self._deliver_logged(message, counts) for message in claimed))
            total.add(counts)
        return total

    async def _deliver_logged(self, message: Claimed, counts: DispatchCounts) -> None:
        try:
            await self._deliver(message, counts)
        except Exception:
            counts.errors += 1
            log.exception("reminder outcome not recorded", ref=ref(message.reminder), attempt=message.attempt)

    async def _deliver(self, message: Claimed, counts: DispatchCounts) -> None:
        channel = self.channels.get(message.channel)
        if channel is None:
            reason = UNCONFIGURED.get(message.channel) or phrase(
                "no {channel} channel configured", channel=message.channel
            )
            await self._give_up(message, reason, counts)
            return
        if message.attempt > self.retry.max_attempts:
            # Claimed this often without an outcome: its dispatchers keep dying on it.
            reason = phrase(
                "no outcome recorded after {attempts} attempts (dispatchers stopped while sending)",
                attempts=message.attempt - 1,
            )
            await self._give_up(message, reason, counts)
            return
        if await self._held(message):
            counts.held += 1
            return
        limiter = self._limiters[message.channel]
        async with self._slots[message.channel]:
            if limiter is not None:
                await limiter.acquire()
            now = self.clock()
            if message.claimed_until - now < self.lease / 2:
                # Waited too long for the channel: sending now could outlast the lease.
                await self.delivery.release(message, now)
                counts.released += 1
                return
            try:
                await channel.send(message)
            except PermanentFailure as failure:
                await self._give_up(message, failure.reason, counts)
            except TransientFailure as failure:
                await self._failed(message, failure.reason, counts)
            except Exception as exc:  # a bug in a channel must not stop the others; retried, then given up
                log.exception("reminder channel raised", ref=ref(message.reminder), channel=message.channel)
                await self._failed(message, f"{type(exc).__name__}: {exc}", counts)
            else:
                if await self.delivery.sent(message, self.clock()):
                    counts.sent += 1
                    log.debug("reminder sent", **self._fields(message))
                else:
                    log.info("reminder was already recorded as sent", **self._fields(message))

    async def _held(self, message: Claimed) -> bool:
        quiet = message.quiet_hours
        if quiet is None:
            return False
        now = self.clock()
        allowed = quiet.next_allowed(now, message.time_zone)
        if allowed <= now:
            return False
        await self.delivery.release(message, allowed)
        log.debug("reminder held for quiet hours", until=allowed.isoformat(), **self._fields(message))
        return True

    async def _failed(self, message: Claimed, reason: str, counts: DispatchCounts) -> None:
        if message.attempt >= self.retry.max_attempts:
            last = phrase("{attempts} attempts failed; the last: {reason}", attempts=message.attempt, reason=reason)
            await self._give_up(message, last, counts)
            return
        retry_at = self.clock() + backoff(message.attempt, self.retry.base, self.retry.cap, self._rng)
        quiet = message.quiet_hours
        if quiet is not None:
            retry_at = quiet.next_allowed(retry_at, message.time_zone)
        if await self.delivery.failed(message, reason, retry_at):
            counts.failed += 1
            log.warning(
                "reminder delivery failed",
                reason=_scrub(reason),
                retry_at=retry_at.isoformat(),
                **self._fields(message),
            )

    async def _give_up(self, message: Claimed, reason: str, counts: DispatchCounts) -> None:
        if await self.delivery.gave_up(message, reason):
            counts.gave_up += 1
            log.warning("reminder given up", reason=_scrub(reason), **self._fields(message))

    @staticmethod
    def _fields(message: Claimed) -> dict[str, object]:
        return {
            "ref": ref(message.reminder),
            "cohort_id": message.cohort_id,
            "rule": message.rule,
            "channel": message.channel,
            "attempt": message.attempt,
        }
