"""Events of a cohort's lifecycle, named in the past tense.

Every event is stored with metadata saying who caused it, under which programme
version, by which workflow and step, so an auditor can answer "who, when, why"
from the event alone. ``SCHEMA_VERSION`` is bumped per type when its shape
changes; old shapes are upcast on read (:mod:`cohortflow.domain.decoding`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.credits import BankSource, TrainingKind
from cohortflow.domain.credit_bank.people import PersonField, Post
from cohortflow.domain.messages import Locale
from cohortflow.domain.programme import PhaseKind
from cohortflow.domain.reminder_rules import ReminderChannel
from cohortflow.domain.vocabulary import CorrectableField as CorrectableField
from cohortflow.domain.vocabulary import ImportKind as ImportKind


class Metadata(BaseModel):
    model_config = ConfigDict(frozen=True)

    actor: str
    workflow_id: str
    programme_id: str
    programme_version: int
    step: str
    correlation_id: str = ""


class Event(BaseModel):
    """Base for event payloads; ``TYPE`` is the stored event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CohortStarted(Event):
    TYPE = "CohortStarted"
    cohort_id: str
    programme_id: str
    programme_version: int
    programme_digest: str
    programme: dict[str, Any]
    started_at: datetime
    day_seconds: float


class PlanStarted(Event):
    """A rotation plan: the programme it runs and its yearly cohorts."""

    TYPE = "PlanStarted"
    plan_id: str
    name: str
    programme_id: str
    programme_version: int
    programme_digest: str
    first_year: int
    cohorts: list[str]
    started_at: datetime


class RosterEntered(Event):
    """One eligible person of a rotation plan's roster."""

    TYPE = "RosterEntered"
    person_key: str
    name: str
    national_id: str
    prefecture_code: str
    school: str = ""


class PhaseOpened(Event):
    TYPE = "PhaseOpened"
    phase: PhaseKind
    deadline: datetime


class PhaseClosed(Event):
    TYPE = "PhaseClosed"
    phase: PhaseKind
    closed_early: bool
    reason: str = ""


class DeadlineExtended(Event):
    TYPE = "DeadlineExtended"
    phase: PhaseKind
    previous_deadline: datetime
    new_deadline: datetime
    reason: str


class CandidateNominated(Event):
    TYPE = "CandidateNominated"
    participant_id: str
    person_key: str
    name: str
    national_id: str
    gender: Literal["M", "F"]
    prefecture_code: str
    school: str
    role: str
    email: str | None = None
    phone: str | None = None
    """For a webhook channel (SMS or WeChat gateways)."""
    locale: Locale = "zh"
    track: str | None = None
    """The block template's track the person is nominated into."""
    school_level: str | None = None
    """Their school's level, which a placement matches host schools to."""


class OnlineStudyRecorded(Event):
    TYPE = "OnlineStudyRecorded"
    participant_id: str
    hours: float
    deliverables: list[str]


class SelectionDecided(Event):
    TYPE = "SelectionDecided"
    rule_version: int
    target: int
    input_digest: str
    eligible: int
    selected: list[str]
    waiting_list: list[str]
    track: str | None = None
    """A block template's track, which each selection block decides for separately."""


class ParticipantWithdrawn(Event):
    TYPE = "ParticipantWithdrawn"
    participant_id: str
    reason: str
    phase: str
    """The phase open when they withdrew; in a block template, the open blocks' codes."""


class WaitingListPromoted(Event):
    TYPE = "WaitingListPromoted"
    participant_id: str
    replaces: str


class FieldPlacementAssigned(Event):
    TYPE = "FieldPlacementAssigned"
    participant_id: str
    site: str
    batch: str


class FieldAttendanceRecorded(Event):
    TYPE = "FieldAttendanceRecorded"
    participant_id: str
    site: str
    batch: str
    days_present: int
    days_total: int


class FieldBatchCompleted(Event):
    TYPE = "FieldBatchCompleted"
    site: str
    batch: str
    participants: int
    attended: int


class BlockOpened(Event):
    TYPE = "BlockOpened"
    block: str
    closes_at: datetime


class BlockExtended(Event):
    """An open block's close moved later; every step on or after its day moves back by as much."""

    TYPE = "BlockExtended"
    block: str
    previous_close: datetime
    new_close: datetime
    reason: str


class BlockClosed(Event):
    TYPE = "BlockClosed"
    block: str
    closed_early: bool
    reason: str = ""


class SubmissionRecorded(Event):
    """One imported record of a block: hours, a deliverable, attendance, a task count, a score, a log entry…

    The latest record of a participant, block, kind and item stands; earlier ones stay in the history.
    """

    TYPE = "SubmissionRecorded"
    block: str
    kind: ImportKind
    participant_id: str
    item: str = ""
    number: float | None = None
    text: str = ""


class AnonymousAnswerRecorded(Event):
    """An answer to an anonymous survey: it names no one, so nothing can link it to a person."""

    TYPE = "AnonymousAnswerRecorded"
    block: str
    kind: ImportKind
    number: float | None = None
    text: str = ""


class ReturnReportSubmitted(Event):
    TYPE = "ReturnReportSubmitted"
    participant_id: str


class SurveyResponded(Event):
    TYPE = "SurveyResponded"
    participant_id: str
    survey: str
    satisfaction: int


class CreditAwarded(Event):
    TYPE = "CreditAwarded"
    entry_id: str
    participant_id: str
    person_key: str
    phase: str
    """The phase, or in a block template the block, whose criterion earned it."""
    hours: float
    level: CreditLevel
    earned_by: list[int]
    """Positions of the events that earned the credit."""
    earned_at: datetime | None = None
    """When the hours were earned: a block's close (or completion); recorded by block templates."""


class CreditReversed(Event):
    TYPE = "CreditReversed"
    entry_id: str
    reverses: str
    participant_id: str
    person_key: str
    hours: float
    reason: str


class ParticipantCompleted(Event):
    TYPE = "ParticipantCompleted"
    participant_id: str


class CohortCompleted(Event):
    TYPE = "CohortCompleted"
    completed: int
    credit_hours: float


CertificateKind = Literal["completion", "credit_cycle"]
"""What a certificate attests: a cohort completed (结业证书), or a credit cycle's requirement met (培训证书)."""


class CertificateIssued(Event):
    """A certificate as printed, in its own stream ``certificate-{code}``: the code a verifier holds finds it.

    The fields every kind prints come first; a completion certificate names its cohort, programme and
    participant, which a credit cycle's certificate (a person's hours across cohorts) will leave empty.
    """

    TYPE = "CertificateIssued"
    kind: CertificateKind
    code: str
    """The verification code, grouped as printed (``ABCD-EFGH-JKMN-PQRS``)."""
    person_key: str
    name: str
    national_id_masked: str
    """The ID number as printed: masked, never whole."""
    credit_hours: float
    """For a completion, the hours awarded in the cohort net of reversals."""
    completed_on: date
    """The day the cohort's completion (or the cycle's requirement) was recorded, in the programmes' time zone."""
    issued_by: str
    cohort_id: str | None = None
    programme_id: str | None = None
    programme_name: str | None = None
    participant_id: str | None = None
    requirement: str | None = None
    """For a credit cycle, the rule met, as printed (e.g. 教师继续教育 (每五年 360 学时))."""
    cycle: str | None = None
    """For a credit cycle, its years (``2021–2025``)."""


class ProgrammeVersionSubmitted(Event):
    """A programme template version, recorded in the programme's own stream."""

    TYPE = "ProgrammeVersionSubmitted"
    programme_id: str
    version: int
    digest: str
    template: dict[str, Any]


class StudyHoursRecorded(Event):
    """The study platform's running total of a participant's online hours."""

    TYPE = "StudyHoursRecorded"
    participant_id: str
    hours: float


class DeliverableSubmitted(Event):
    TYPE = "DeliverableSubmitted"
    participant_id: str
    deliverable: str


class FactCorrected(Event):
    """An administrator's correction of one recorded fact; the original stays in the history."""

    TYPE = "FactCorrected"
    participant_id: str
    field: CorrectableField
    previous: str | float | int
    value: str | float | int
    reason: str


class ImportApplied(Event):
    """One uploaded file, identified by its content digest, and what it changed."""

    TYPE = "ImportApplied"
    kind: ImportKind
    digest: str
    filename: str
    rows: int
    applied: int
    rejected: int
    request_id: str | None = None
    """The request that applied it; absent in events recorded before requests were kept."""


class AuditQueried(Event):
    """An auditor's question, kept in the same verifiable history as the answers."""

    TYPE = "AuditQueried"
    query: str
    params: dict[str, str]
    outcome: str


class RemindersQueued(Event):
    """One occurrence of a reminder rule: who was due a message when it fired, and who could not be reached."""

    TYPE = "RemindersQueued"
    rule: str
    occurrence: str
    due_at: datetime
    queued: int
    unreachable: list[str]
    """Recipients with no address on the rule's channel; each also has a ReminderGaveUp."""


class ReminderSent(Event):
    """A channel accepted the message identified by ``reminder`` (rule/person/occurrence)."""

    TYPE = "ReminderSent"
    reminder: str
    rule: str
    recipient: str
    participant_id: str | None
    channel: ReminderChannel
    attempt: int


class ReminderDeliveryFailed(Event):
    """A transient failure; the outbox tries again at ``retry_at``."""

    TYPE = "ReminderDeliveryFailed"
    reminder: str
    recipient: str
    participant_id: str | None
    channel: ReminderChannel
    attempt: int
    error: str
    retry_at: datetime


class ReminderGaveUp(Event):
    """The message will not be sent: no address, a permanent refusal, or too many failures."""

    TYPE = "ReminderGaveUp"
    reminder: str
    recipient: str
    participant_id: str | None
    channel: ReminderChannel
    attempts: int
    reason: str


class PersonRegistered(Event):
    """A teacher or principal entered in the credit bank's registry (stream ``person-{person_key}``)."""

    TYPE = "PersonRegistered"
    person_key: str
    name: str
    national_id: str
    post: Post
    took_post_on: date | None
    school: str
    county_code: str
    prefecture_code: str
    school_level: str | None
    subject: str


class PersonCorrected(Event):
    """One fact of a registered person changed, with the reason; the registration stays in the history."""

    TYPE = "PersonCorrected"
    person_key: str
    field: PersonField
    previous: str | None
    value: str | None
    reason: str


class BankCreditRecorded(Event):
    """Hours of training outside a cohort (a school's or district's own, recognised external study)."""

    TYPE = "BankCreditRecorded"
    entry_id: str
    person_key: str
    source: BankSource
    title: str
    hours: float
    level: CreditLevel
    kind: TrainingKind
    earned_on: date
    """The last day of the training: its hours count in this day's cycle."""
    days: int
    off_the_job: bool
    recorded_by: str
    """The unit that recorded it: a school's name or a county's code."""


class BankCreditReversed(Event):
    """An entry cancelled after the fact, with the reason: a bank entry, or a cohort's award (``cohort_id``)."""

    TYPE = "BankCreditReversed"
    entry_id: str
    person_key: str
    reverses: str
    cohort_id: str | None
    """The cohort whose award is cancelled; None for a bank entry."""
    hours: float
    """The hours taken away, as a positive number."""
    reason: str
    locked_by: str | None = None
    """The approver of the locked year the cancelled entry is in, named by the reversal (None: not locked)."""


class ReviewOpened(Event):
    """A district's annual review of its schools' credits (stream ``review-{district}-{year}``)."""

    TYPE = "ReviewOpened"
    district: str
    year: int
    deadline: date
    schools: list[str]


class ReviewListDecided(Event):
    """A school's list submitted, approved or returned with reasons."""

    TYPE = "ReviewListDecided"
    school: str
    state: Literal["submitted", "approved", "returned"]
    reasons: list[str]


class YearLocked(Event):
    """Every school's list approved: the district's year takes only reversing entries from now on."""

    TYPE = "YearLocked"
    district: str
    year: int
    approved_by: str


class ReviewReminded(Event):
    """The schools still waiting, reminded before (or at) the review's deadline."""

    TYPE = "ReviewReminded"
    occurrence: str
    schools: list[str]


class RecognitionRequested(Event):
    """Study outside cohorts submitted for recognition (学分认定), to be decided by a reviewer of ``unit``."""

    TYPE = "RecognitionRequested"
    claim_id: str
    person_key: str
    title: str
    hours: float
    level: CreditLevel
    unit: str
    """Whose reviewers decide: the province, a prefecture's code, a county's code or a school's name."""
    earned_on: date
    days: int
    evidence: str


class RecognitionDecided(Event):
    """A claim approved (its credit is recorded with it) or refused, with the reviewer and the reason."""

    TYPE = "RecognitionDecided"
    claim_id: str
    person_key: str
    decision: Literal["approved", "refused"]
    reason: str
    reviewer_level: CreditLevel
    reviewer_unit: str


class BankCreditsFileRecorded(Event):
    """A credits or reversals file applied whole (stream ``bank-file-{digest}``): the same file is never applied
    twice."""

    TYPE = "BankCreditsFileRecorded"
    digest: str
    filename: str
    kind: Literal["credits", "reversals"] = "credits"
    source: BankSource | None = None
    """Who recorded a credits file's hours; None for a reversals file (each reversal names its actor)."""
    recorded_by: str
    rows: int
