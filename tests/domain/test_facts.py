"""Cohort facts: a pure fold of the event stream into what batch activities decide from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cohortflow.domain.decoding import UndecodableEvent
from cohortflow.domain.events import (
    CorrectableField,
    CreditAwarded,
    CreditReversed,
    DeliverableSubmitted,
    FactCorrected,
    FieldPlacementAssigned,
    ParticipantWithdrawn,
    PhaseOpened,
    StudyHoursRecorded,
    WaitingListPromoted,
)
from cohortflow.domain.facts import CohortFacts, fold

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, History, Stored, key_of


def test_nominations_become_participants() -> None:
    history = History()
    p1 = history.nominate("P1", CHANGSHA)
    p2 = history.nominate("P2", ZHUZHOU)
    history.nominate("P3", CHANGSHA)

    facts = history.facts()

    assert list(facts.participants) == ["P1", "P2", "P3"]
    first = facts.participants["P1"]
    assert (first.person_key, first.prefecture_code, first.nominated_at) == (key_of("P1"), CHANGSHA, p1)
    assert facts.participants["P2"].nominated_at == p2
    assert facts.nominations_by_prefecture() == {CHANGSHA: 2, ZHUZHOU: 1}
    assert facts.event_count == 3
    assert list(facts.selected) == [] and facts.selection_position is None


def test_online_study_keeps_the_latest_record_and_its_position() -> None:
    history = History()
    history.nominate("P1")
    history.study("P1", 80, ["plan"])
    latest = history.study("P1", 120.5, ["plan", "book"])

    p = history.facts().participants["P1"]

    assert (p.hours, p.deliverables, p.study_position) == (120.5, ("plan", "book"), latest)


def test_selection_sets_the_selected_and_waiting_lists() -> None:
    history = History()
    for pid in ("P1", "P2", "P3", "P4"):
        history.nominate(pid)
    position = history.select(["P2", "P1"], ["P4"])

    facts = history.facts()

    assert list(facts.selected) == ["P2", "P1"]
    assert list(facts.waiting_list) == ["P4"]
    assert facts.selection_position == position
    assert [p.participant_id for p in facts.active_selected()] == ["P2", "P1"]


def test_withdrawal_removes_from_both_lists_and_promotion_moves_across() -> None:
    history = History()
    for pid in ("P1", "P2", "P3", "P4", "P5"):
        history.nominate(pid, XIANGTAN)
    history.select(["P1", "P2"], ["P3", "P4"])
    history.add(ParticipantWithdrawn(participant_id="P1", reason="ill", phase="selection"))
    history.add(WaitingListPromoted(participant_id="P4", replaces="P1"))
    history.add(ParticipantWithdrawn(participant_id="P3", reason="moved", phase="selection"))
    history.add(ParticipantWithdrawn(participant_id="P5", reason="moved", phase="selection"))

    facts = history.facts()

    assert list(facts.selected) == ["P2", "P4"]
    assert list(facts.waiting_list) == []
    assert {pid for pid, p in facts.participants.items() if p.withdrawn} == {"P1", "P3", "P5"}
    # Withdrawn people stay in the record of who was nominated.
    assert facts.nominations_by_prefecture() == {XIANGTAN: 5}


def test_field_study_return_and_survey_facts_carry_their_positions() -> None:
    history = History()
    history.nominate("P1")
    history.add(FieldPlacementAssigned(participant_id="P1", site="CS", batch="B1"))
    attended = history.attend("P1", 12, 14)
    reported = history.report("P1")
    m1 = history.survey("P1", "m1")
    m6 = history.survey("P1", "m6")

    p = history.facts().participants["P1"]

    assert (p.site, p.batch) == ("CS", "B1")
    assert (p.days_present, p.days_total, p.attendance_position) == (12, 14, attended)
    assert p.return_report_position == reported
    assert p.surveys == {"m1": m1, "m6": m6}


def test_placement_alone_sets_site_and_batch() -> None:
    history = History()
    history.nominate("P1")
    history.add(FieldPlacementAssigned(participant_id="P1", site="NC", batch="B2"))
    p = history.facts().participants["P1"]
    assert (p.site, p.batch) == ("NC", "B2")
    assert p.attendance_position is None


def test_credited_phases_remember_awards_even_after_a_reversal() -> None:
    history = History()
    history.nominate("P1")
    award = CreditAwarded(
        entry_id="P1/online_study",
        participant_id="P1",
        person_key=key_of("P1"),
        phase="online_study",
        hours=50,
        level="province",
        earned_by=[2],
    )
    history.add(award)
    history.add(
        CreditReversed(
            entry_id="r1", reverses=award.entry_id, participant_id="P1", person_key=key_of("P1"), hours=-50, reason="x"
        )
    )
    assert history.facts().participants["P1"].credited_phases == {"online_study"}


def test_events_about_unknown_participants_and_cohort_events_change_no_participant() -> None:
    history = History()
    history.nominate("P1")
    history.study("P9", 200, ["plan"])
    history.report("P9")
    history.add(PhaseOpened(phase="online_study", deadline=datetime(2024, 4, 1, tzinfo=UTC)))

    facts = history.facts()

    assert list(facts.participants) == ["P1"]
    assert facts.participants["P1"].study_position is None
    assert facts.event_count == 4


def test_folding_the_same_events_twice_gives_equal_facts() -> None:
    history = History()
    for pid in ("P1", "P2", "P3"):
        history.nominate(pid)
        history.study(pid, 150, ["plan"])
    history.select(["P1"], ["P2"])
    history.attend("P1", 14)
    assert fold(history.events) == fold(list(history.events))
    assert fold(history.events) == history.facts()


def test_fold_decodes_any_object_with_position_type_version_and_data() -> None:
    payload = {
        "participant_id": "P1",
        "person_key": "k",
        "prefecture_code": CHANGSHA,
        "name": "王芳",
        "national_id": "430106196711117469",
        "gender": "F",
        "school": "",
        "role": "",
    }
    facts = fold([Stored(7, "CandidateNominated", payload)])
    assert facts.participants["P1"].nominated_at == 7
    assert fold([]) == CohortFacts()
    missing = {k: v for k, v in payload.items() if k != "national_id"}
    with pytest.raises(UndecodableEvent, match="CandidateNominated version 1 does not match its model"):
        fold([Stored(8, "CandidateNominated", missing)])


# --- imported study records and corrections ----------------------------------------------------


def test_imported_study_hours_replace_the_hours_and_keep_the_deliverables() -> None:
    history = History()
    history.nominate("P1")
    history.study("P1", 80, ["plan"])
    latest = history.add(StudyHoursRecorded(participant_id="P1", hours=130.5))

    p = history.facts().participants["P1"]

    assert (p.hours, p.deliverables, p.study_position) == (130.5, ("plan",), latest)


def test_submitted_deliverables_accumulate_once_each_in_order() -> None:
    history = History()
    history.nominate("P1")
    history.add(DeliverableSubmitted(participant_id="P1", deliverable="book"))
    history.add(DeliverableSubmitted(participant_id="P1", deliverable="plan"))
    latest = history.add(DeliverableSubmitted(participant_id="P1", deliverable="book"))

    p = history.facts().participants["P1"]

    assert (p.deliverables, p.study_position, p.hours) == (("book", "plan"), latest, 0.0)


def corrected(field: CorrectableField, previous: str | float | int, value: str | float | int) -> FactCorrected:
    return FactCorrected(participant_id="P1", field=field, previous=previous, value=value, reason="r")


def test_a_corrected_name_school_or_role_replaces_the_nominated_one() -> None:
    history = History()
    history.nominate("P1")
    history.add(corrected("name", "张伟", "王芳"))
    history.add(corrected("school", "长沙东区第一中学", "株洲一中"))
    history.add(corrected("role", "校长", ""))

    p = history.facts().participants["P1"]

    assert (p.name, p.school, p.role) == ("王芳", "株洲一中", "")
    assert p.study_position is None and p.attendance_position is None


def test_corrected_hours_replace_the_hours_and_move_the_study_position() -> None:
    history = History()
    history.nominate("P1")
    history.study("P1", 80, ["plan"])
    position = history.add(corrected("hours", 80.0, 120.0))

    p = history.facts().participants["P1"]

    assert (p.hours, p.deliverables, p.study_position) == (120.0, ("plan",), position)


def test_corrected_days_present_replace_the_days_and_move_the_attendance_position() -> None:
    history = History()
    history.nominate("P1")
    history.add(FieldPlacementAssigned(participant_id="P1", site="CS", batch="B1"))
    history.attend("P1", 10, 14)
    position = history.add(corrected("days_present", 10, 13))

    p = history.facts().participants["P1"]

    assert (p.days_present, p.days_total, p.attendance_position) == (13, 14, position)


def test_a_later_record_overrides_an_earlier_correction() -> None:
    history = History()
    history.nominate("P1")
    history.add(corrected("hours", 0.0, 120.0))
    latest = history.add(StudyHoursRecorded(participant_id="P1", hours=90.0))

    p = history.facts().participants["P1"]

    assert (p.hours, p.study_position) == (90.0, latest)


def test_records_and_corrections_of_unknown_participants_change_nothing() -> None:
    history = History()
    history.nominate("P1")
    before = history.facts().participants["P1"]
    history.add(StudyHoursRecorded(participant_id="P9", hours=90.0))
    history.add(DeliverableSubmitted(participant_id="P9", deliverable="plan"))
    history.add(FactCorrected(participant_id="P9", field="name", previous="x", value="y", reason="r"))

    facts = history.facts()

    assert list(facts.participants) == ["P1"]
    assert facts.participants["P1"] == before
    assert facts.event_count == 4
