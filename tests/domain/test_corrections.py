"""Corrections: one recorded fact fixed, with the previous value and a reason; refusals say why."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml

from cohortflow.domain.corrections import CorrectionRefused, decide_correction
from cohortflow.domain.events import CorrectableField, FactCorrected, FieldPlacementAssigned, ParticipantWithdrawn
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.template import parse_template

from .builders import History, programme

EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"
PROG = programme()  # online phase 30 days (720 hours); batch B1 is 14 days


def cohort() -> History:
    """P1 studied 80 hours, was selected, placed in CS/B1 and attended 12 of 14 days.

    P2 studied but has no placement; P3 was placed but no attendance was recorded for them yet;
    P4 has withdrawn.
    """
    history = History()
    for pid in ("P1", "P2", "P3", "P4"):
        history.nominate(pid)
        history.study(pid, 80, ["plan"])
    history.select(["P1", "P3", "P4"], ["P2"])
    history.add(FieldPlacementAssigned(participant_id="P1", site="CS", batch="B1"))
    history.add(FieldPlacementAssigned(participant_id="P3", site="CS", batch="B1"))
    history.attend("P1", 12, 14)
    history.add(ParticipantWithdrawn(participant_id="P4", reason="ill", phase="field_study"))
    return history


def facts() -> CohortFacts:
    return cohort().facts()


def refused(message: str) -> AbstractContextManager[pytest.ExceptionInfo[CorrectionRefused]]:
    return pytest.raises(CorrectionRefused, match="^" + re.escape(message) + "$")


# --- accepted corrections ----------------------------------------------------------------------


def test_hours_are_corrected_with_the_previous_value_and_the_reason() -> None:
    event = decide_correction(facts(), PROG, "P1", "hours", "120.5", " 平台漏记 ")
    assert event == FactCorrected(participant_id="P1", field="hours", previous=80.0, value=120.5, reason="平台漏记")


@pytest.mark.parametrize(("value", "hours"), [("0", 0.0), ("720", 720.0), (" 1e2 ", 100.0)])
def test_hours_bounds_are_inclusive(value: str, hours: float) -> None:
    assert decide_correction(facts(), PROG, "P1", "hours", value, "r").value == hours


def test_days_present_are_corrected_as_a_whole_number() -> None:
    event = decide_correction(facts(), PROG, "P1", "days_present", "14.0", "签到表漏记")
    assert event == FactCorrected(participant_id="P1", field="days_present", previous=12, value=14, reason="签到表漏记")
    assert isinstance(event.value, int)


@pytest.mark.parametrize("days", [0, 14])
def test_days_present_bounds_are_inclusive(days: int) -> None:
    assert decide_correction(facts(), PROG, "P1", "days_present", str(days), "r").value == days


@pytest.mark.parametrize(("field", "value"), [("name", "王芳"), ("school", "长沙南区实验学校"), ("role", "副校长")])
def test_text_fields_are_corrected_trimmed(field: CorrectableField, value: str) -> None:
    event = decide_correction(facts(), PROG, "P1", field, f"  {value} ", "r")
    previous = {"name": "张伟", "school": "长沙东区第一中学", "role": "校长"}[field]
    assert event == FactCorrected(participant_id="P1", field=field, previous=previous, value=value, reason="r")


@pytest.mark.parametrize("field", ["school", "role"])
def test_school_and_role_may_be_emptied(field: CorrectableField) -> None:
    assert decide_correction(facts(), PROG, "P1", field, "  ", "r").value == ""


def test_a_withdrawn_participants_record_can_still_be_corrected() -> None:
    assert decide_correction(facts(), PROG, "P4", "name", "王芳", "r").value == "王芳"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason(reason: str) -> None:
    with refused("a correction needs a reason"):
        decide_correction(facts(), PROG, "P1", "hours", "120", reason)


def test_a_correction_for_an_unknown_participant_is_refused() -> None:
    with refused("participant P99 is not in this cohort"):
        decide_correction(facts(), PROG, "P99", "hours", "120", "r")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours", "80", "hours of P1 is already 80.0"),
        ("hours", "80.000", "hours of P1 is already 80.0"),
        ("days_present", "12", "days_present of P1 is already 12"),
        ("name", " 张伟 ", "name of P1 is already '张伟'"),
        ("school", "长沙东区第一中学", "school of P1 is already '长沙东区第一中学'"),
        ("role", "校长", "role of P1 is already '校长'"),
    ],
)
def test_a_correction_that_changes_nothing_is_refused(field: CorrectableField, value: str, message: str) -> None:
    with refused(message):
        decide_correction(facts(), PROG, "P1", field, value, "r")


@pytest.mark.parametrize("value", ["abc", "", "12h", "一百"])
def test_hours_that_are_not_a_number_are_refused(value: str) -> None:
    with refused(f"hours must be a number, got {value!r}"):
        decide_correction(facts(), PROG, "P1", "hours", value, "r")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "Infinity"])
def test_hours_that_are_not_finite_are_refused(value: str) -> None:
    with refused(f"hours must be a finite number, got {value!r}"):
        decide_correction(facts(), PROG, "P1", "hours", value, "r")


@pytest.mark.parametrize(("value", "shown"), [("-0.5", "-0.5"), ("720.5", "720.5")])
def test_hours_out_of_range_are_refused(value: str, shown: str) -> None:
    with refused(f"hours {shown} is out of range 0–720 (the online phase's length)"):
        decide_correction(facts(), PROG, "P1", "hours", value, "r")


@pytest.mark.parametrize("value", ["12.5", "0.1", "13.999"])
def test_fractional_days_present_are_refused(value: str) -> None:
    with refused(f"days_present must be a whole number, got {value!r}"):
        decide_correction(facts(), PROG, "P1", "days_present", value, "r")


@pytest.mark.parametrize("value", ["twelve", ""])
def test_days_present_that_are_not_a_number_are_refused(value: str) -> None:
    with refused(f"days_present must be a number, got {value!r}"):
        decide_correction(facts(), PROG, "P1", "days_present", value, "r")


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_days_present_that_are_not_finite_are_refused(value: str) -> None:
    with refused(f"days_present must be a finite number, got {value!r}"):
        decide_correction(facts(), PROG, "P1", "days_present", value, "r")


@pytest.mark.parametrize("days", [-1, 15])
def test_days_present_out_of_range_are_refused(days: int) -> None:
    with refused(f"days_present {days} is out of range 0–14 (batch B1's length)"):
        decide_correction(facts(), PROG, "P1", "days_present", str(days), "r")


def test_days_present_without_a_placement_are_refused() -> None:
    with refused("participant P2 has no field-study placement"):
        decide_correction(facts(), PROG, "P2", "days_present", "10", "r")


@pytest.mark.parametrize("value", ["", "   "])
def test_a_name_cannot_be_emptied(value: str) -> None:
    with refused("name must not be empty"):
        decide_correction(facts(), PROG, "P1", "name", value, "r")


# --- the fold applies what was decided ---------------------------------------------------------


def test_the_fold_applies_each_decided_correction_and_keeps_the_originals() -> None:
    history = cohort()
    before = len(history.events)
    changes: list[tuple[CorrectableField, str]] = [
        ("hours", "150"),
        ("days_present", "13"),
        ("name", "王芳"),
        ("school", "株洲一中"),
    ]
    for field, value in changes:
        history.add(decide_correction(history.facts(), PROG, "P1", field, value, "r"))

    p = history.facts().participants["P1"]

    assert (p.hours, p.days_present, p.days_total, p.name, p.school) == (150.0, 13, 14, "王芳", "株洲一中")
    assert p.study_position == before + 1
    assert p.attendance_position == before + 2
    assert len(history.events) == before + 4
    assert [e.type for e in history.events].count("OnlineStudyRecorded") == 4


def test_a_second_correction_names_the_first_correction_as_its_previous_value() -> None:
    history = cohort()
    history.add(decide_correction(history.facts(), PROG, "P1", "hours", "150", "r"))
    again = decide_correction(history.facts(), PROG, "P1", "hours", "160", "r")
    assert (again.previous, again.value) == (150.0, 160.0)


def test_a_days_present_correction_without_an_attendance_record_is_refused() -> None:
    history = cohort()
    with pytest.raises(CorrectionRefused, match="no attendance is recorded for P3 yet"):
        decide_correction(history.facts(), PROG, "P3", "days_present", "14", "签到表漏记")


# --- a block template's cohort -----------------------------------------------------------------


def test_a_block_cohorts_names_are_corrected_but_its_per_block_records_are_reimported() -> None:
    placement = parse_template(yaml.safe_load((EXAMPLES / "placement.yaml").read_text(encoding="utf-8")))
    corrected = decide_correction(facts(), placement, "P1", "school", "长沙市实验小学", "调动")
    assert corrected.value == "长沙市实验小学"
    for field in ("hours", "days_present"):
        with refused(
            f"a block template's cohort keeps no {field} of its own: its records are per block, where the latest "
            "imported record stands; import a corrected file while the block is open"
        ):
            decide_correction(facts(), placement, "P1", field, "3", "r")
