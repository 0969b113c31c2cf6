"""Side effects of the cohort cycle: every one appends to the event store, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cohortflow.activities.blocks import BlockActivities
from cohortflow.activities.certificates import CertificateActivities
from cohortflow.activities.completion import CompletionActivities
from cohortflow.activities.corrections import CorrectionActivities
from cohortflow.activities.credit_bank import BankActivities
from cohortflow.activities.cycle_records import CycleRecordActivities
from cohortflow.activities.field_study import FieldStudyActivities
from cohortflow.activities.imports import ImportActivities
from cohortflow.activities.places import FillPlaceActivities
from cohortflow.activities.plans import PlanActivities
from cohortflow.activities.recognition import RecognitionActivities
from cohortflow.activities.reminders import ReminderActivities
from cohortflow.activities.reviews import ReviewActivities
from cohortflow.activities.selection import SelectionActivities
from cohortflow.activities.withdrawal import WithdrawalActivities
from cohortflow.store.eventstore import EventStore


class Activities(
    CycleRecordActivities,
    SelectionActivities,
    FieldStudyActivities,
    CompletionActivities,
    WithdrawalActivities,
    FillPlaceActivities,
    CorrectionActivities,
    ImportActivities,
    ReminderActivities,
    BlockActivities,
):
    """All cohort activities, sharing one store and one programme cache."""


def all_activities(store: EventStore, uploads: Path | None = None) -> list[Callable[..., Any]]:
    acts = Activities(store, uploads)
    plans = PlanActivities(store, uploads)
    bank = BankActivities(store, uploads)
    reviews = ReviewActivities(store)
    recognition = RecognitionActivities(store, uploads)
    certificates = CertificateActivities(store)
    return [
        bank.import_people,
        bank.import_bank_credits,
        bank.import_reversals,
        bank.correct_person,
        bank.reverse_credit,
        recognition.request_recognition,
        recognition.decide_recognition,
        reviews.open_review,
        reviews.record_list_step,
        reviews.remind_review,
        plans.record_plan_started,
        plans.import_roster,
        acts.record_cohort_started,
        acts.record_block_cohort_started,
        acts.run_block_step,
        acts.withdraw_from_blocks,
        acts.queue_block_reminders,
        acts.record_cycle_event,
        acts.select_participants,
        acts.assign_field_placements,
        acts.record_batch_attendance,
        acts.complete_cohort,
        acts.withdraw_participant,
        acts.fill_place,
        acts.correct_fact,
        acts.import_records,
        acts.queue_reminders,
        acts.end_digests,
        certificates.issue_completion_certificates,
        certificates.issue_cycle_certificate,
    ]
