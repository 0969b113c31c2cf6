"""The outbox's SQL side: claiming due messages, and recording what became of each.

A dispatcher **claims** due rows with ``FOR UPDATE SKIP LOCKED`` (so several
dispatchers never take the same row), marks them ``sending`` with a lease
(``claimed_until``) and counts the attempt. A row whose lease lapsed — its
dispatcher was killed, or hung — is due again.

Each **outcome** changes the row and appends the event recording the change
(``EventStore.append_in``) in one transaction: ``ReminderSent``,
``ReminderDeliveryFailed`` (back to ``pending`` at a later ``next_attempt_at``)
or ``ReminderGaveUp``. A row and its event therefore commit together or not at
all. (Outcomes reported while another commit is running share the next
transaction; none waits for more than that.) The events carry idempotency keys made of the reminder key and the attempt
(``reminder/{key}/sent``, ``reminder/{key}/attempt/{n}``,
``reminder/{key}/gave-up``), and the row update is conditional, so an outcome is
recorded once however often it is reported:

- *sent* applies to any row not yet ``sent`` (a send that succeeded is a fact,
  even when the claim lapsed meanwhile); a second report finds the row ``sent``
  and records nothing;
- a failure, a give-up or a release applies only while the claim is still this
  dispatcher's (``sending``, same attempt, same lease); a stale dispatcher's
  report is dropped, since the row belongs to whoever claimed it since.

Every outcome transaction takes the store's append lock before touching the
row, the same order as an append followed by a row write, so an outcome and an
enqueueing transaction cannot deadlock.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, FromClause, and_, bindparam, func, or_, select, tuple_, update

from cohortflow.domain.events import Event, Metadata, ReminderDeliveryFailed, ReminderGaveUp, ReminderSent
from cohortflow.domain.messages import Locale
from cohortflow.domain.quiet_hours import QuietHours
from cohortflow.domain.reminder_rules import ReminderChannel
from cohortflow.store import tables as t
from cohortflow.store.eventstore import APPEND_LOCK, Append, EventStore
from cohortflow.store.records import NewEvent
from cohortflow.store.sql import Statement, execute

REASON_LIMIT = 500
"""Characters of a failure reason kept in the row and the event (SMTP servers can be verbose)."""


@dataclass(frozen=True)
class Claimed:
    """An outbox row claimed for one attempt."""

    reminder: str
    cohort_id: str
    stream_id: str
    rule: str
    occurrence: str
    recipient: str
    participant_id: str | None
    channel: ReminderChannel
    address: str | None
    locale: Locale
    subject: str
    body: str
    time_zone: str
    quiet_start: time | None
    quiet_end: time | None
    attempt: int
    """This attempt's number, from 1."""
    claimed_until: datetime
    """The lease: past it, another dispatcher may claim the row again."""
    actor: str
    workflow_id: str
    programme_id: str
    programme_version: int

    @property
    def quiet_hours(self) -> QuietHours | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return QuietHours(start=self.quiet_start, end=self.quiet_end)


OUTBOX = t.reminder_outbox
_CLAIMED_COLUMNS = (
    *("reminder", "cohort_id", "stream_id", "rule", "occurrence", "recipient", "participant_id", "channel"),
    *("address", "locale", "subject", "body", "time_zone", "quiet_start", "quiet_end", "attempts", "claimed_until"),
    *("actor", "workflow_id", "programme_id", "programme_version"),
)
_now: BindParameter[datetime] = bindparam("now")
_due = (
    select(OUTBOX.c.reminder)
    .where(
        or_(
            and_(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= _now),
            and_(OUTBOX.c.status == "sending", OUTBOX.c.claimed_until < _now),
        )
    )
    .order_by(OUTBOX.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .cte("due")
)
CLAIM = Statement(
    update(OUTBOX)
    .where(OUTBOX.c.reminder == _due.c.reminder)
    .values(status="sending", claimed_until=bindparam("until"), attempts=OUTBOX.c.attempts + 1)
    .returning(*(OUTBOX.c[n] for n in _CLAIMED_COLUMNS))
)
# The claim is still this dispatcher's: nobody recorded an outcome nor claimed the row again since.
_STILL_OURS = and_(
    OUTBOX.c.reminder == bindparam("reminder"),
    OUTBOX.c.status == "sending",
    OUTBOX.c.attempts == bindparam("attempt"),
    OUTBOX.c.claimed_until == bindparam("lease"),
)
SENT = Statement(
    update(OUTBOX)
    .where(OUTBOX.c.reminder == bindparam("reminder"), OUTBOX.c.status != "sent")
    .values(status="sent", sent_at=_now, claimed_until=None, last_error=None)
)
FAILED = Statement(
    update(OUTBOX)
    .where(_STILL_OURS)
    .values(status="pending", next_attempt_at=bindparam("retry_at"), claimed_until=None, last_error=bindparam("error"))
)
GAVE_UP = Statement(
    update(OUTBOX).where(_STILL_OURS).values(status="gave_up", claimed_until=None, last_error=bindparam("reason"))
)
RELEASE = Statement(
    update(OUTBOX)
    .where(_STILL_OURS)
    .values(status="pending", attempts=OUTBOX.c.attempts - 1, next_attempt_at=bindparam("at"), claimed_until=None)
)
LOCK = Statement(select(func.pg_advisory_xact_lock(bindparam("lock"))))


def gave_up_at(outbox: FromClause) -> ColumnElement[datetime]:
    """When a given-up row was given up: its ReminderGaveUp event's time (found by the key :meth:`Delivery.gave_up`
    appends it under), or when it was queued if it never had an address."""
    e = t.events.alias("e")
    event = e.c.idempotency_key == "reminder/" + outbox.c.reminder + "/gave-up#0"
    return func.coalesce(select(e.c.recorded_at).where(event).scalar_subquery(), outbox.c.queued_at)


def _given_up_statement(one_cohort: bool, after: bool) -> Statement:
    """Given-up messages, oldest first by cohort: of one cohort or all, after a (cohort, queued_at, reminder) or
    from the first (only the conditions asked for are written, as for every filtered list)."""
    o = OUTBOX.alias("o")
    conditions = [o.c.status == "gave_up"]
    if one_cohort:
        conditions.append(o.c.cohort_id == bindparam("cohort"))
    if after:
        last: tuple[BindParameter[Any], ...] = (bindparam("after_cohort"), bindparam("after_at"), bindparam("after_id"))
        conditions.append(tuple_(o.c.cohort_id, o.c.queued_at, o.c.reminder) > tuple_(*last))
    listed = select(
        *(o.c[n] for n in ("cohort_id", "reminder", "rule", "recipient", "channel", "address", "attempts")),
        func.coalesce(o.c.last_error, ""),
        gave_up_at(o),
        o.c.queued_at,
    )
    ordered = listed.where(*conditions).order_by(o.c.cohort_id, o.c.queued_at, o.c.reminder)
    return Statement(ordered.limit(bindparam("limit")))


GIVEN_UP = {(one, after): _given_up_statement(one, after) for one in (False, True) for after in (False, True)}


@dataclass(frozen=True)
class GivenUp:
    """A message that will not be sent, as administrators see it."""

    cohort_id: str
    reminder: str
    rule: str
    recipient: str
    channel: str
    address: str | None
    attempts: int
    reason: str
    at: datetime
    """When it was given up (the ReminderGaveUp event's time, or when it was queued if it never had an address)."""
    queued_at: datetime
    """When the reminder rule queued it (the list's order, with the cohort and the reminder)."""


def backoff(attempt: int, base: timedelta, cap: timedelta, rng: random.Random) -> timedelta:
    """How long to wait after failed attempt ``attempt``: doubling from ``base``, capped, with jitter.

    The jitter takes the delay down by up to half ("equal jitter"), so messages
    that failed together (a relay that was down) do not all come back at once,
    while the wait still grows with every attempt.
    """
    delay = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=delay * (0.5 + rng.random() / 2))


def truncate(reason: str) -> str:
    """A reason fit for the row and the event: one line, printable (no U+0000, which PostgreSQL refuses), bounded."""
    reason = " ".join("".join(c if c.isprintable() else " " for c in reason).split())
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


class Delivery:
    """Claims and outcomes on the ``reminder_outbox`` table, each outcome committed with its event."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._pending: list[_Outcome] = []
        self._committing = asyncio.Lock()

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[Claimed]:
        """Claim up to ``limit`` due messages (oldest due first) until ``now + lease``, counting an attempt each."""
        async with self.store.pool.connection() as conn:
            cur = await execute(conn, CLAIM, now=now, limit=limit, until=now + lease)
            rows = await cur.fetchall()
        claimed = [Claimed(*row) for row in rows]
        claimed.sort(key=lambda c: c.reminder)  # RETURNING order is unspecified; make a batch's order stable
        return claimed

    async def sent(self, message: Claimed, now: datetime) -> bool:
        """Record that the channel accepted the message; False if it had already been recorded as sent."""
        event = ReminderSent(
            reminder=message.reminder,
            rule=message.rule,
            recipient=message.recipient,
            participant_id=message.participant_id,
            channel=message.channel,
            attempt=message.attempt,
        )
        return await self._record(
            message,
            f"reminder/{message.reminder}/sent",
            event,
            SENT,
            {"reminder": message.reminder, "now": now},
        )

    async def failed(self, message: Claimed, error: str, retry_at: datetime) -> bool:
        """Record a transient failure; the message is due again at ``retry_at``. False if the claim was lost."""
        error = truncate(error)
        event = ReminderDeliveryFailed(
            reminder=message.reminder,
            recipient=message.recipient,
            participant_id=message.participant_id,
            channel=message.channel,
            attempt=message.attempt,
            error=error,
            retry_at=retry_at,
        )
        return await self._record(
            message,
            f"reminder/{message.reminder}/attempt/{message.attempt}",
            event,
            FAILED,
            _claim_params(message) | {"retry_at": retry_at, "error": error},
        )

    async def gave_up(self, message: Claimed, reason: str) -> bool:
        """Record that the message will not be sent. False if the claim was lost."""
        reason = truncate(reason)
        event = ReminderGaveUp(
            reminder=message.reminder,
            recipient=message.recipient,
            participant_id=message.participant_id,
            channel=message.channel,
            attempts=message.attempt,
            reason=reason,
        )
        return await self._record(
            message,
            f"reminder/{message.reminder}/gave-up",
            event,
            GAVE_UP,
            _claim_params(message) | {"reason": reason},
        )

    async def release(self, message: Claimed, at: datetime) -> bool:
        """Give the claim back unsent, due again at ``at``, without counting the attempt (quiet hours, a short lease).

        Nothing happened to the message, so no event is recorded.
        """
        async with self.store.pool.connection() as conn:
            cur = await execute(conn, RELEASE, **_claim_params(message), at=at)
            return cur.rowcount == 1

    async def given_up(
        self,
        cohort_id: str | None = None,
        *,
        after: tuple[str, datetime, str] | None = None,
        limit: int | None = None,
    ) -> list[GivenUp]:
        """Messages given up (for administrators), by cohort, oldest first, optionally of one cohort; at most
        ``limit`` of them after the (cohort, queued_at, reminder) ``after``."""
        async with self.store.pool.connection() as conn:
            params: dict[str, Any] = {"limit": limit}
            if cohort_id is not None:
                params["cohort"] = cohort_id
            if after is not None:
                params["after_cohort"], params["after_at"], params["after_id"] = after
            statement = GIVEN_UP[(cohort_id is not None, after is not None)]
            cur = await execute(conn, statement, **params)
            return [GivenUp(*row) for row in await cur.fetchall()]

    async def _record(
        self, message: Claimed, key: str, event: Event, update: Statement, params: dict[str, Any]
    ) -> bool:
        """Commit one outcome at once, or with the others reported while the previous commit was under way.

        No outcome ever waits for company: one reported while no commit runs is
        committed alone. Outcomes reported during a commit are committed together
        as soon as it ends (group commit), which spares the append lock and the
        WAL flush a round each. A message's outcome is durable when this returns.
        """
        outcome = _Outcome(message, key, event, update, params)
        self._pending.append(outcome)
        async with self._committing:
            if not outcome.result.done():
                group, self._pending = self._pending, []
                try:
                    await self._commit(group)
                finally:
                    for other in group:  # interrupted (cancelled): nobody may wait for a commit that will not come
                        if not other.result.done():
                            other.result.set_exception(RuntimeError("the commit of this outcome was interrupted"))
        return await outcome.result

    async def _commit(self, group: list[_Outcome]) -> None:
        try:
            results = await self._apply(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].result.set_exception(exc)
                return
            # One bad outcome must not cost the others theirs: record each on its own.
            for outcome in group:
                await self._commit([outcome])
            return
        for outcome, result in zip(group, results, strict=True):
            outcome.result.set_result(result)

    async def _apply(self, group: list[_Outcome]) -> list[bool]:
        results = []
        async with self.store.pool.connection() as conn, conn.transaction():
            # The append lock first, then the rows: the order every appending transaction takes them in.
            await execute(conn, LOCK, lock=APPEND_LOCK)
            for outcome in group:
                cur = await execute(conn, outcome.update, **outcome.params)
                results.append(cur.rowcount == 1)
            appends = [_append(o) for o, applies in zip(group, results, strict=True) if applies]
            if appends:
                await self.store.append_each_in(conn, appends)
        return results


def _append(outcome: _Outcome) -> Append:
    message, event = outcome.message, outcome.event
    metadata = Metadata(
        actor=message.actor,
        workflow_id=message.workflow_id,
        programme_id=message.programme_id,
        programme_version=message.programme_version,
        step=outcome.key,
        correlation_id=message.cohort_id,
    ).model_dump()
    return Append(
        message.stream_id, [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)], outcome.key
    )


@dataclass
class _Outcome:
    message: Claimed
    key: str
    event: Event
    update: Statement
    params: dict[str, Any]
    result: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _claim_params(message: Claimed) -> dict[str, Any]:
    """The parameters that say the claim is still ours (``_STILL_OURS``)."""
    return {"reminder": message.reminder, "attempt": message.attempt, "lease": message.claimed_until}
