"""Corrections (更正): an administrator fixes one recorded fact and says why.

The original event stays in the history; the correction is a new event that
names the previous value, so an auditor sees both and the reason.
"""

from __future__ import annotations

from cohortflow.domain.events import CorrectableField, FactCorrected
from cohortflow.domain.facts import CohortFacts
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
        raise CorrectionRefused("a correction needs a reason")
    p = facts.participants.get(participant_id)
    if p is None:
        raise CorrectionRefused(f"participant {participant_id} is not in this cohort")
    new: str | float | int
    if field == "hours":
        limit = max_study_hours(_seven_phase(programme, field))
        new = _number(value, field)
        if not 0 <= new <= limit:
            raise CorrectionRefused(f"hours {new:g} is out of range 0–{limit:g} (the online phase's length)")
        previous: str | float | int = p.hours
    elif field == "days_present":
        seven = _seven_phase(programme, field)
        number = _number(value, field)
        if not number.is_integer():
            raise CorrectionRefused(f"days_present must be a whole number, got {value!r}")
        new = int(number)
        if p.site is None or p.batch is None:
            raise CorrectionRefused(f"participant {participant_id} has no field-study placement")
        if p.days_total == 0:
            raise CorrectionRefused(f"no attendance is recorded for {participant_id} yet; import it before correcting")
        days = batch_days(seven, p.site, p.batch)
        if not 0 <= new <= days:
            raise CorrectionRefused(f"days_present {new} is out of range 0–{days} (batch {p.batch}'s length)")
        previous = p.days_present
    else:
        new = value.strip()
        if field == "name" and not new:
            raise CorrectionRefused("name must not be empty")
        previous = getattr(p, field)
    if new == previous:
        raise CorrectionRefused(f"{field} of {participant_id} is already {previous!r}")
    return FactCorrected(
        participant_id=participant_id, field=field, previous=previous, value=new, reason=reason.strip()
    )


def _seven_phase(programme: AnyTemplate, field: str) -> Programme:
    if not isinstance(programme, Programme):
        raise CorrectionRefused(
            f"a block template's cohort keeps no {field} of its own: its records are per block, where the latest "
            "imported record stands; import a corrected file while the block is open"
        )
    return programme


def _number(value: str, field: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CorrectionRefused(f"{field} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise CorrectionRefused(f"{field} must be a finite number, got {value!r}")
    return number
