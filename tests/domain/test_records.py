"""Imported records of a running cohort: each row becomes one event, or its problems with row and field."""

from __future__ import annotations

import dataclasses

import pytest

from cohortflow.domain.events import (
    DeliverableSubmitted,
    FieldAttendanceRecorded,
    FieldPlacementAssigned,
    ParticipantWithdrawn,
    StudyHoursRecorded,
    SurveyResponded,
)
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.programme import Programme, parse_programme
from cohortflow.domain.records import (
    AttendanceRow,
    DeliverableRow,
    RecordCheck,
    RecordRow,
    StudyRow,
    SurveyRow,
    batch_days,
    max_study_hours,
    repeat_key,
)

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, History, template


def short_second_batch() -> Programme:
    """The small template, with batch B2 ten days long so each batch's own length is visible."""
    data = template()
    data["field_study"]["sites"][0]["batches"][1]["days"] = 10
    return parse_programme(data)


PROG = short_second_batch()


def cohort() -> CohortFacts:
    """P1 (长沙) and P2 (株洲) selected and placed in B1 and B2; P3 (湘潭) selected, not yet placed;
    P4 (长沙) on the waiting list; P5 (长沙) withdrawn."""
    history = History()
    for pid, code in {"P1": CHANGSHA, "P2": ZHUZHOU, "P3": XIANGTAN, "P4": CHANGSHA, "P5": CHANGSHA}.items():
        history.nominate(pid, code)
    history.select(["P1", "P2", "P3", "P5"], ["P4"])
    history.add(FieldPlacementAssigned(participant_id="P1", site="CS", batch="B1"))
    history.add(FieldPlacementAssigned(participant_id="P2", site="CS", batch="B2"))
    history.add(FieldPlacementAssigned(participant_id="P5", site="CS", batch="B1"))
    history.add(ParticipantWithdrawn(participant_id="P5", reason="ill", phase="field_study"))
    return history.facts()


def check(prefecture: str | None = None) -> RecordCheck:
    return RecordCheck(PROG, cohort(), prefecture)


def one_of_each(pid: str, row: int = 2) -> list[RecordRow]:
    return [
        StudyRow(row, pid, 10.0),
        DeliverableRow(row, pid, "plan"),
        AttendanceRow(row, pid, 10),
        SurveyRow(row, pid, "m1", 4),
    ]


# --- every kind of row -------------------------------------------------------------------------


@pytest.mark.parametrize("r", one_of_each("P99"), ids=lambda r: type(r).__name__)
def test_a_row_for_an_unknown_participant_is_refused(r: RecordRow) -> None:
    assert check().check(r) == ["row 2, participant_id: unknown participant 'P99' in this cohort"]


@pytest.mark.parametrize("r", one_of_each("P5"), ids=lambda r: type(r).__name__)
def test_a_row_for_a_withdrawn_participant_is_refused(r: RecordRow) -> None:
    assert check().check(r) == ["row 2, participant_id: P5 has withdrawn"]


@pytest.mark.parametrize("r", one_of_each("P2"), ids=lambda r: type(r).__name__)
def test_a_coordinator_cannot_record_for_another_prefecture(r: RecordRow) -> None:
    assert check(prefecture=CHANGSHA).check(r) == ["row 2, participant_id: P2 belongs to prefecture 430200, not yours"]


@pytest.mark.parametrize("r", one_of_each("P1"), ids=lambda r: type(r).__name__)
def test_a_coordinator_records_for_their_own_prefecture(r: RecordRow) -> None:
    assert not isinstance(check(prefecture=CHANGSHA).check(r), list)


@pytest.mark.parametrize("r", one_of_each("P1"), ids=lambda r: type(r).__name__)
def test_the_same_row_twice_in_one_file_is_refused_the_second_time(r: RecordRow) -> None:
    checker = check()
    assert not isinstance(checker.check(r), list)
    assert checker.check(dataclasses.replace(r, row=3)) == ["row 3, participant_id: P1 appears twice in this file"]


def test_a_refused_row_does_not_stop_the_next_participant() -> None:
    checker = check()
    assert isinstance(checker.check(StudyRow(2, "P1", -1.0)), list)
    assert checker.check(StudyRow(3, "P2", 50.0)) == StudyHoursRecorded(participant_id="P2", hours=50.0)


def test_a_second_row_for_a_refused_participant_still_counts_as_a_repeat() -> None:
    # The file is ambiguous about P1 either way; the administrator fixes the file.
    checker = check()
    assert isinstance(checker.check(StudyRow(2, "P1", -1.0)), list)
    assert checker.check(StudyRow(3, "P1", 50.0)) == ["row 3, participant_id: P1 appears twice in this file"]


def test_a_repeat_in_another_check_is_a_new_file() -> None:
    assert not isinstance(check().check(StudyRow(2, "P1", 10.0)), list)
    assert not isinstance(check().check(StudyRow(2, "P1", 10.0)), list)


# --- study hours -------------------------------------------------------------------------------


def test_the_most_study_hours_are_the_online_phase_in_hours() -> None:
    assert max_study_hours(PROG) == (40 - 10) * 24 == 720.0


def test_a_study_row_records_the_hours() -> None:
    assert check().check(StudyRow(2, "P1", 120.5)) == StudyHoursRecorded(participant_id="P1", hours=120.5)


@pytest.mark.parametrize("hours", [0.0, 720.0])
def test_study_hours_bounds_are_inclusive(hours: float) -> None:
    assert check().check(StudyRow(2, "P1", hours)) == StudyHoursRecorded(participant_id="P1", hours=hours)


@pytest.mark.parametrize(("hours", "shown"), [(-0.5, "-0.5"), (720.5, "720.5"), (1e6, "1e+06")])
def test_study_hours_out_of_range_are_refused(hours: float, shown: str) -> None:
    assert check().check(StudyRow(2, "P1", hours)) == [
        f"row 2, hours: {shown} is out of range 0–720 (the online phase's length)"
    ]


@pytest.mark.parametrize("hours", [float("nan"), float("inf"), float("-inf")])
def test_study_hours_that_are_not_finite_are_refused(hours: float) -> None:
    problems = check().check(StudyRow(2, "P1", hours))
    assert isinstance(problems, list) and len(problems) == 1
    assert problems[0].startswith("row 2, hours: ")
    assert problems[0].endswith("is out of range 0–720 (the online phase's length)")


def test_study_hours_need_no_placement_or_selection() -> None:
    assert check().check(StudyRow(2, "P4", 5.0)) == StudyHoursRecorded(participant_id="P4", hours=5.0)


# --- deliverables ------------------------------------------------------------------------------


def test_a_deliverable_row_records_the_deliverable() -> None:
    assert check().check(DeliverableRow(2, "P1", "reflection")) == DeliverableSubmitted(
        participant_id="P1", deliverable="reflection"
    )


def test_an_unknown_deliverable_is_refused_naming_the_known_ones() -> None:
    assert check().check(DeliverableRow(2, "P1", "essay")) == [
        "row 2, deliverable: 'essay' is not a deliverable of this programme (plan, reflection, book)"
    ]


def test_two_different_deliverables_of_one_participant_are_allowed() -> None:
    checker = check()
    assert checker.check(DeliverableRow(2, "P1", "plan")) == DeliverableSubmitted(
        participant_id="P1", deliverable="plan"
    )
    assert checker.check(DeliverableRow(3, "P1", "book")) == DeliverableSubmitted(
        participant_id="P1", deliverable="book"
    )


def test_the_same_deliverable_twice_for_one_participant_is_refused() -> None:
    checker = check()
    checker.check(DeliverableRow(2, "P1", "plan"))
    assert checker.check(DeliverableRow(3, "P1", "plan")) == ["row 3, participant_id: P1 appears twice in this file"]


# --- attendance --------------------------------------------------------------------------------


def test_an_attendance_row_records_days_against_the_participants_batch() -> None:
    checker = check()
    assert checker.check(AttendanceRow(2, "P1", 12)) == FieldAttendanceRecorded(
        participant_id="P1", site="CS", batch="B1", days_present=12, days_total=14
    )
    assert checker.check(AttendanceRow(3, "P2", 9)) == FieldAttendanceRecorded(
        participant_id="P2", site="CS", batch="B2", days_present=9, days_total=10
    )


@pytest.mark.parametrize(("pid", "days"), [("P1", 0), ("P1", 14), ("P2", 0), ("P2", 10)])
def test_attendance_bounds_are_inclusive(pid: str, days: int) -> None:
    outcome = check().check(AttendanceRow(2, pid, days))
    assert isinstance(outcome, FieldAttendanceRecorded) and outcome.days_present == days


@pytest.mark.parametrize(
    ("pid", "days", "limit", "batch"), [("P1", -1, 14, "B1"), ("P1", 15, 14, "B1"), ("P2", 11, 10, "B2")]
)
def test_attendance_out_of_range_is_refused(pid: str, days: int, limit: int, batch: str) -> None:
    assert check().check(AttendanceRow(2, pid, days)) == [
        f"row 2, days_present: {days} is out of range 0–{limit} (batch {batch}'s length)"
    ]


@pytest.mark.parametrize("pid", ["P3", "P4"], ids=["selected-unplaced", "waiting"])
def test_attendance_without_a_placement_is_refused(pid: str) -> None:
    assert check().check(AttendanceRow(2, pid, 10)) == [f"row 2, participant_id: {pid} has no field-study placement"]


def test_attendance_of_a_placed_participant_who_is_no_longer_selected_is_refused() -> None:
    history = History()
    history.nominate("P1")
    history.select([], ["P1"])
    history.add(FieldPlacementAssigned(participant_id="P1", site="CS", batch="B1"))
    checker = RecordCheck(PROG, history.facts())
    assert checker.check(AttendanceRow(2, "P1", 10)) == ["row 2, participant_id: P1 has no field-study placement"]


def test_batch_days_of_a_batch_and_of_an_unknown_one() -> None:
    assert batch_days(PROG, "CS", "B1") == 14
    assert batch_days(PROG, "CS", "B2") == 10
    with pytest.raises(KeyError, match="CS/B9"):
        batch_days(PROG, "CS", "B9")
    with pytest.raises(KeyError, match="XX/B1"):
        batch_days(PROG, "XX", "B1")


# --- follow-up surveys -------------------------------------------------------------------------


def test_a_survey_row_records_the_answer() -> None:
    assert check().check(SurveyRow(2, "P1", "m6", 4)) == SurveyResponded(
        participant_id="P1", survey="m6", satisfaction=4
    )


def test_two_different_surveys_of_one_participant_are_allowed() -> None:
    checker = check()
    assert isinstance(checker.check(SurveyRow(2, "P1", "m1", 5)), SurveyResponded)
    assert isinstance(checker.check(SurveyRow(3, "P1", "m6", 3)), SurveyResponded)


def test_the_same_survey_twice_for_one_participant_is_refused() -> None:
    checker = check()
    checker.check(SurveyRow(2, "P1", "m1", 5))
    assert checker.check(SurveyRow(3, "P1", "m1", 3)) == ["row 3, participant_id: P1 appears twice in this file"]


def test_an_unknown_survey_is_refused() -> None:
    assert check().check(SurveyRow(2, "P1", "m3", 4)) == [
        "row 2, survey: 'm3' is not a follow-up survey of this programme"
    ]


def test_a_survey_from_someone_not_selected_is_refused() -> None:
    assert check().check(SurveyRow(2, "P4", "m1", 4)) == [
        "row 2, participant_id: P4 was not selected for the offline phase"
    ]


@pytest.mark.parametrize("satisfaction", [1, 5])
def test_satisfaction_bounds_are_inclusive(satisfaction: int) -> None:
    assert check().check(SurveyRow(2, "P1", "m1", satisfaction)) == SurveyResponded(
        participant_id="P1", survey="m1", satisfaction=satisfaction
    )


@pytest.mark.parametrize("satisfaction", [0, 6, -3])
def test_satisfaction_out_of_range_is_refused(satisfaction: int) -> None:
    assert check().check(SurveyRow(2, "P1", "m1", satisfaction)) == [
        f"row 2, satisfaction: {satisfaction} is out of range 1–5"
    ]


def test_every_problem_of_a_survey_row_is_reported_together() -> None:
    assert check().check(SurveyRow(7, "P4", "m9", 9)) == [
        "row 7, survey: 'm9' is not a follow-up survey of this programme",
        "row 7, participant_id: P4 was not selected for the offline phase",
        "row 7, satisfaction: 9 is out of range 1–5",
    ]


# --- repeats found elsewhere: screen, then decide ------------------------------------------------


@pytest.mark.parametrize("r", one_of_each("P1"), ids=lambda r: type(r).__name__)
def test_a_repeat_found_elsewhere_is_reported_in_the_same_words(r: RecordRow) -> None:
    checker = check()
    assert checker.screen(r) == []
    assert checker.decide(r, repeated=True) == ["row 2, participant_id: P1 appears twice in this file"]
    assert checker.decide(r, repeated=False) == check().check(r)


def test_screening_stops_rows_that_cannot_count_as_repeats() -> None:
    checker = check(prefecture=CHANGSHA)
    assert checker.screen(StudyRow(2, "P404", 10.0)) == [
        "row 2, participant_id: unknown participant 'P404' in this cohort"
    ]
    assert checker.screen(StudyRow(3, "P2", 10.0)) == [
        "row 3, participant_id: P2 belongs to prefecture 430200, not yours"
    ]
    assert checker.screen(StudyRow(4, "P5", 10.0)) == ["row 4, participant_id: P5 has withdrawn"]


def test_the_repeat_key_is_the_participant_and_the_survey_or_deliverable() -> None:
    assert repeat_key(StudyRow(2, "P1", 1.0)) == repeat_key(StudyRow(3, "P1", 2.0)) == ("P1", "")
    assert repeat_key(DeliverableRow(2, "P1", "plan")) != repeat_key(DeliverableRow(2, "P1", "book"))
    assert repeat_key(SurveyRow(2, "P1", "m1", 5)) == ("P1", "m1")
