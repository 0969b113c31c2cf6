"""Corrections (更正): an administrator fixes one recorded fact and says why.

The original event stays in the history; the correction is a new event that
names the previous value, so an auditor sees both and the reason.
"""

from __future__ import annotations

from cohortflow.domain.events import CorrectableField, FactCorrected
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.records import batch_days, max_study_hours
from cohortflow.domain.template import AnyTemplate


class CorrectionRefused(ValueError):
    """A correction that cannot be recorded; the message says why."""


def decide_correction(
    facts: CohortFacts,
    programme: AnyTemplate,
    participant_id: str,
    field: CorrectableField,
    value: str,
    reason: str,
) -> FactCorrected:
    if not reason.strip():
        raise CorrectionRefused(phrase("a correction needs a reason"))
    p = facts.participants.get(participant_id)
    if p is None:
        raise CorrectionRefused(
            phrase("participant {participant_id} is not in this cohort", participant_id=participant_id)
        )
    new: str | float | int
    if field == "hours":
        limit = max_study_hours(_seven_phase(programme, field))
        new = _number(value, field)
        if not 0 <= new <= limit:
            raise CorrectionRefused(
                phrase(
                    "hours {hours} is out of range 0–{limit} (the online phase's length)",
                    hours=f"{new:g}",
                    limit=f"{limit:g}",
                )
            )
        previous: str | float | int = p.hours
    elif field == "days_present":
        seven = _seven_phase(programme, field)
        number = _number(value, field)
        if not number.is_integer():
            raise CorrectionRefused(phrase("days_present must be a whole number, got {value}", value=repr(value)))
        new = int(number)
        if p.site is None or p.batch is None:
            raise CorrectionRefused(
                phrase("participant {participant_id} has no field-study placement", participant_id=participant_id)
            )
        if p.days_total == 0:
            raise CorrectionRefused(
                phrase(
                    "no attendance is recorded for {participant_id} yet; import it before correcting",
                    participant_id=participant_id,
                )
            )
        days = batch_days(seven, p.site, p.batch)
        if not 0 <= new <= days:
            raise CorrectionRefused(
                phrase(
                    "days_present {days_present} is out of range 0–{days} (batch {batch}'s length)",
                    days_present=new,
                    days=days,
                    batch=p.batch,
                )
            )
        previous = p.days_present
    else:
        new = value.strip()
        if field == "name" and not new:
            raise CorrectionRefused(phrase("name must not be empty"))
        previous = getattr(p, field)
    if new == previous:
        raise CorrectionRefused(
            phrase(
                "{field} of {participant_id} is already {previous}",
                field=field,
                participant_id=participant_id,
                previous=repr(previous),
            )
        )
    return FactCorrected(
        participant_id=participant_id, field=field, previous=previous, value=new, reason=reason.strip()
    )


def _seven_phase(programme: AnyTemplate, field: str) -> Programme:
    if not isinstance(programme, Programme):
        raise CorrectionRefused(
            phrase(
                "a block template's cohort keeps no {field} of its own: its records are per block, where the latest "
                "imported record stands; import a corrected file while the block is open",
                field=field,
            )
        )
    return programme


def _number(value: str, field: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CorrectionRefused(
            phrase("{field} must be a number, got {value}", field=field, value=repr(value))
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise CorrectionRefused(phrase("{field} must be a finite number, got {value}", field=field, value=repr(value)))
    return number
