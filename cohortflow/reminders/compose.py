"""From a fired rule and its recipients to outbox messages, rendered in each recipient's language.

The recipient's address on the rule's channel decides whether a message can go
at all: without one it is queued already given up, with the reason, and the
other recipients are not held back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cohortflow.domain.blocks.reminders import BlockReminderRule
from cohortflow.domain.messages import PLACEHOLDERS, Locale, RenderedMessage, render
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_rules import ReminderRule, ReminderSettings
from cohortflow.domain.reminder_schedule import ReminderDue
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate
from cohortflow.readmodels.audiences import ParticipantRecipient
from cohortflow.readmodels.queries import Funnel, FunnelCounts
from cohortflow.reminders.outbox import OutboxMessage, reminder_key

NO_ADDRESS = {
    "email": phrase("no email address on record"),
    "webhook": phrase("no mobile number on record"),
}
"""Why a message is given up at once when its recipient has no address on the rule's channel."""


@dataclass(frozen=True)
class Recipient:
    """Anyone a reminder can go to, with what the message may say about them."""

    key: str
    participant_id: str | None
    email: str | None
    phone: str | None
    locale: Locale
    time_zone: str
    values: dict[str, object]


@dataclass(frozen=True)
class Sender:
    """Who queues: the event metadata every message carries into its delivery events."""

    cohort_id: str
    stream_id: str
    actor: str
    workflow_id: str


def participant_recipient(
    programme: Programme, rule: ReminderRule, due: ReminderDue | None, cohort_id: str, p: ParticipantRecipient
) -> Recipient:
    """``due`` None (a preview, not a firing): the message says nothing of a deadline."""
    reminders = _reminders(programme)
    prefecture = programme.prefecture(p.prefecture_code)
    required = programme.online.min_hours
    values: dict[str, object] = {
        "name": p.name,
        "cohort": cohort_id,
        "programme": programme.name,
        "participant_id": p.participant_id,
        "school": p.school,
        "prefecture": prefecture.name if prefecture else p.prefecture_code,
        "hours": f"{p.hours:g}",
        "required_hours": f"{required:g}",
        "missing_hours": f"{max(required - p.hours, 0):g}",
        "deliverable": _deliverable_name(programme, rule.deliverable),
        "survey": rule.survey or "",
        "phase": rule.phase or "",
    }
    if due is not None and due.deadline is not None:
        values |= {"deadline": _local(due.deadline, reminders.time_zone), "days_left": due.days}
    locale: Locale = "en" if p.locale == "en" else "zh"
    return Recipient(p.participant_id, p.participant_id, p.email, p.phone, locale, reminders.time_zone, values)


def block_participant_recipient(
    template: ProgrammeTemplate,
    rule: BlockReminderRule,
    due: ReminderDue | None,
    cohort_id: str,
    p: ParticipantRecipient,
) -> Recipient:
    """A participant of a block template's cohort who has not handed in what ``rule`` is about.

    ``due`` None (a preview, not a firing): the message says nothing of a deadline."""
    reminders = _reminders(template)
    names = {pref.code: pref.name for pref in template.prefectures}
    kind, _, item = rule.about.partition(":")
    values: dict[str, object] = {
        "name": p.name,
        "cohort": cohort_id,
        "programme": template.name,
        "participant_id": p.participant_id,
        "school": p.school,
        "prefecture": names.get(p.prefecture_code, p.prefecture_code),
        "hours": f"{p.hours:g}",
        "deliverable": item if kind == "deliverable" else "",
        "survey": item if kind == "survey" else "",
        "phase": rule.block,
    }
    if due is not None and due.deadline is not None:
        values |= {"deadline": _local(due.deadline, reminders.time_zone), "days_left": due.days}
    locale: Locale = "en" if p.locale == "en" else "zh"
    return Recipient(p.participant_id, p.participant_id, p.email, p.phone, locale, reminders.time_zone, values)


def coordinator_recipients(programme: Programme, occurrence: str, cohort_id: str, funnel: Funnel) -> list[Recipient]:
    reminders = _reminders(programme)
    by_prefecture = {row.code: row.counts for row in funnel.prefectures}
    out = []
    for c in reminders.coordinators:
        counts = by_prefecture.get(c.prefecture, FunnelCounts())
        prefecture = programme.prefecture(c.prefecture)
        values: dict[str, object] = {
            "name": c.name,
            "cohort": cohort_id,
            "programme": programme.name,
            "prefecture": prefecture.name if prefecture else c.prefecture,
            "week": occurrence,
            **counts.model_dump(),
        }
        zone = c.time_zone or reminders.time_zone
        out.append(Recipient(f"coordinator-{c.prefecture}", None, c.email, c.phone, c.locale, zone, values))
    return out


def compose(
    programme: AnyTemplate,
    rule: ReminderRule | BlockReminderRule,
    due: ReminderDue,
    sender: Sender,
    recipients: list[Recipient],
) -> list[OutboxMessage]:
    reminders = _reminders(programme)
    template = reminders.template(rule.template)
    quiet = reminders.quiet_hours
    messages = []
    for r in recipients:
        address = r.email if rule.channel == "email" else r.phone
        text = render(template, r.locale, _complete(rule, r.values))
        messages.append(
            OutboxMessage(
                reminder=reminder_key(rule.code, r.key, due.occurrence),
                cohort_id=sender.cohort_id,
                stream_id=sender.stream_id,
                rule=rule.code,
                occurrence=due.occurrence,
                recipient=r.key,
                participant_id=r.participant_id,
                channel=rule.channel,
                address=address or None,
                locale=r.locale,
                subject=text.subject,
                body=text.body,
                time_zone=r.time_zone,
                quiet_start=quiet.start if quiet else None,
                quiet_end=quiet.end if quiet else None,
                status="pending" if address else "gave_up",
                last_error=None if address else NO_ADDRESS[rule.channel],
                next_attempt_at=quiet.next_allowed(due.at, r.time_zone) if quiet else due.at,
                actor=sender.actor,
                workflow_id=sender.workflow_id,
                programme_id=programme.id,
                programme_version=programme.version,
            )
        )
    return messages


def preview(
    programme: AnyTemplate, rule: ReminderRule | BlockReminderRule, locale: Locale, values: dict[str, object]
) -> RenderedMessage:
    """The message as a recipient would read it, with ``values`` (example values fill the rest)."""
    template = _reminders(programme).template(rule.template)
    example = {name: f"<{name}>" for name in PLACEHOLDERS[rule.recipients]}
    return render(template, locale, {**example, **values})


def _complete(rule: ReminderRule | BlockReminderRule, values: dict[str, object]) -> dict[str, object]:
    return {name: values.get(name, "") for name in PLACEHOLDERS[rule.recipients]}


def _reminders(programme: AnyTemplate) -> ReminderSettings:
    if programme.reminders is None:
        raise LookupError(
            phrase(
                "programme {programme_id} v{version} has no reminder rules",
                programme_id=programme.id,
                version=programme.version,
            )
        )
    return programme.reminders


def _local(moment: datetime, time_zone: str) -> str:
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


def _deliverable_name(programme: Programme, code: str | None) -> str:
    return next((d.name for d in programme.deliverables if d.code == code), code or "")
