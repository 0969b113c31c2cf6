"""Queueing a fired reminder rule: recipients from the read models, messages into the outbox.

The read models are brought up to the latest event first, so work recorded a
moment before the rule fired already counts. The outbox rows and the
``RemindersQueued`` event (with a ``ReminderGaveUp`` for each recipient who has
no address) commit together under the occurrence's idempotency key: a retried
activity or a replayed workflow queues nothing twice.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import ScheduleHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cohortflow.activities.base import CohortActivities, CohortRef, NotStarted, refusals_are_final
from cohortflow.activities.heartbeats import heartbeating
from cohortflow.domain.block_reminders import still_to_hand_in
from cohortflow.domain.blocks.reminders import BlockReminderRule
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import Event, ReminderGaveUp, RemindersQueued
from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_rules import ReminderRule
from cohortflow.domain.reminder_schedule import ReminderDue
from cohortflow.domain.template import AnyTemplate
from cohortflow.readmodels.audiences import (
    cohort_completed,
    participants_behind,
    participants_by_id,
)
from cohortflow.readmodels.projector import Projector
from cohortflow.readmodels.queries import cohort_funnel
from cohortflow.reminders.compose import (
    Recipient,
    Sender,
    block_participant_recipient,
    compose,
    coordinator_recipients,
    participant_recipient,
)
from cohortflow.reminders.outbox import OutboxMessage, enqueue
from cohortflow.store.records import NewEvent


class QueueReminders(BaseModel):
    ref: CohortRef
    due: ReminderDue


class QueuedReminders(BaseModel):
    recipients: int
    queued: int
    """New outbox rows: 0 when an earlier attempt already queued this occurrence."""
    unreachable: int
    cohort_completed: bool = False


class EndDigests(BaseModel):
    schedule_id: str


def digests_stream(cohort_id: str) -> str:
    """Coordinators' digests have their own stream: they concern no participant's timeline."""
    return f"digests-{cohort_id}"


class ReminderActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def queue_reminders(self, req: QueueReminders) -> QueuedReminders:
        ref, due = req.ref, req.due
        try:
            programme = await self.programme(ref)
        except NotStarted as exc:
            # A digest's schedule is made as its cohort's workflow starts, and may fire before that workflow has
            # recorded the start: the digest waits for it (retried), where a refusal would end the week's digest.
            raise ApplicationError(str(exc), type="StartNotRecorded") from exc
        rule = _rule(programme, due.rule)
        await Projector(self.store, on_batch=lambda applied, _: activity.heartbeat(applied)).catch_up(wait=True)
        async with heartbeating():
            recipients = await self._recipients(programme, rule, req)
            if recipients is None:
                return QueuedReminders(recipients=0, queued=0, unreachable=0, cohort_completed=True)
            stream = ref.stream_id if rule.recipients == "participants" else digests_stream(ref.cohort_id)
            return await self._queue(ref, programme, rule, due, stream, recipients)

    @activity.defn
    @refusals_are_final
    async def queue_block_reminders(self, req: QueueReminders) -> QueuedReminders:
        """A block template's rule: everyone its block is for who has not handed in what it is about."""
        ref, due = req.ref, req.due
        template = await self.template(ref)
        try:
            rule = template.reminder_rule(due.rule)
        except KeyError as exc:
            raise CommandRefused(exc.args[0]) from None
        pending = still_to_hand_in(template, await self.facts(ref), rule)
        await Projector(self.store, on_batch=lambda applied, _: activity.heartbeat(applied)).catch_up(wait=True)
        async with heartbeating():
            async with self.store.pool.connection() as conn:
                people = await participants_by_id(conn, ref.cohort_id, pending)
            recipients = [block_participant_recipient(template, rule, due, ref.cohort_id, p) for p in people]
            return await self._queue(ref, template, rule, due, ref.stream_id, recipients)

    async def _queue(
        self,
        ref: CohortRef,
        programme: AnyTemplate,
        rule: ReminderRule | BlockReminderRule,
        due: ReminderDue,
        stream: str,
        recipients: list[Recipient],
    ) -> QueuedReminders:
        """The messages into the outbox and their record into ``stream``, together and once per occurrence."""
        sender = Sender(cohort_id=ref.cohort_id, stream_id=stream, actor=ref.actor, workflow_id=ref.workflow_id)
        messages = compose(programme, rule, due, sender, recipients)
        step = f"reminders/{rule.code}/{due.occurrence}"
        events = _queued_events(rule.code, due, messages)
        metadata = self.metadata(ref, step, programme)
        async with self.store.pool.connection() as conn, conn.transaction():
            queued = await enqueue(conn, messages)
            await self.store.append_in(
                conn,
                stream,
                [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
                idempotency_key=f"{ref.workflow_id}/{step}",
            )
        unreachable = len(events) - 1
        self.log(ref).info(
            "reminders queued", rule=rule.code, occurrence=due.occurrence, queued=queued, unreachable=unreachable
        )
        return QueuedReminders(recipients=len(messages), queued=queued, unreachable=unreachable)

    async def _recipients(
        self, programme: Programme, rule: ReminderRule, req: QueueReminders
    ) -> list[Recipient] | None:
        """Who is due the message; None once the cohort has completed (a digest then has nothing to say)."""
        cohort_id = req.ref.cohort_id
        async with self.store.pool.connection() as conn:
            if rule.recipients == "coordinators":
                if await cohort_completed(conn, cohort_id):
                    return None
                funnel = await cohort_funnel(conn, cohort_id)
                return coordinator_recipients(programme, req.due.occurrence, cohort_id, funnel)
            behind = await participants_behind(conn, cohort_id, rule)
        return [participant_recipient(programme, rule, req.due, cohort_id, p) for p in behind]

    @activity.defn
    async def end_digests(self, req: EndDigests) -> None:
        """Delete a finished cohort's digest schedule; already gone is fine."""
        handle: ScheduleHandle = activity.client().get_schedule_handle(req.schedule_id)
        try:
            await handle.delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


def _rule(programme: Programme, code: str) -> ReminderRule:
    try:
        return programme.reminder_rule(code)
    except KeyError as exc:
        raise CommandRefused(exc.args[0]) from None


def _queued_events(rule: str, due: ReminderDue, messages: list[OutboxMessage]) -> list[Event]:
    unreachable = [m for m in messages if m.status == "gave_up"]
    summary = RemindersQueued(
        rule=rule,
        occurrence=due.occurrence,
        due_at=due.at,
        queued=len(messages) - len(unreachable),
        unreachable=[m.recipient for m in unreachable],
    )
    gave_up = [
        ReminderGaveUp(
            reminder=m.reminder,
            recipient=m.recipient,
            participant_id=m.participant_id,
            channel=m.channel,
            attempts=0,
            reason=m.last_error or "",
        )
        for m in unreachable
    ]
    return [summary, *gave_up]
