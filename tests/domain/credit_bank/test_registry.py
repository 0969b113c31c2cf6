"""The credit bank's decisions, pure: people files planned, credits checked, corrections, reversals and
recognition decided by the right reviewer."""

from __future__ import annotations

from datetime import date

import pytest

from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.recognition import Reviewer
from cohortflow.domain.credit_bank.registry import (
    BankRefused,
    CreditRow,
    PersonRecord,
    PersonRow,
    ReversalRow,
    Reversible,
    correction,
    plan_credits,
    plan_people,
    plan_reversals,
    recognition_decision,
    recognition_request,
    reversal,
    school_may_reverse,
    unit_of,
)
from cohortflow.domain.events import BankCreditRecorded, RecognitionDecided
from cohortflow.domain.national_id import PersonKeys, check_char

KEYS = PersonKeys(b"0123456789abcdef0123456789abcdef")
TODAY = date(2026, 5, 1)
TEACHER = "11010119850512234" + check_char("11010119850512234")


def row(n: int = 2, **changes: object) -> PersonRow:
    values: dict[str, object] = {
        "row": n,
        "name": "李老师",
        "national_id": TEACHER,
        "post": "teacher",
        "took_post_on": None,
        "school": "第一中学",
        "county_code": "510104",
        "prefecture_code": "510100",
        "school_level": None,
        "subject": "数学",
    }
    return PersonRow(**(values | changes))  # type: ignore[arg-type]


def facts() -> PersonFacts:
    [registered] = plan_people([row()], {}, KEYS, TODAY, "").registered
    return PersonFacts.model_validate(registered.model_dump())


def test_a_people_file_registers_new_people_and_names_each_bad_row() -> None:
    plan = plan_people(
        [
            row(),
            row(3, national_id=TEACHER),
            row(4, national_id="110101198505122341"),
            row(5, national_id="11010119800307123" + check_char("11010119800307123"), county_code="5101"),
            row(6, national_id="11010119900101345" + check_char("11010119900101345"), took_post_on=date(2027, 1, 1)),
        ],
        {},
        KEYS,
        TODAY,
        "",
    )
    assert [e.name for e in plan.registered] == ["李老师"]
    assert plan.problems == [
        "row 3, national_id: the same person as row 2",
        f"row 4, national_id: check digit is 1, expected {check_char('11010119850512234')}",
        "row 5, county_code: '5101' is not a six-digit division code",
        "row 6, took_post_on: 2027-01-01 is in the future",
    ]


def test_a_registered_person_is_corrected_only_with_a_reason_and_unchanged_rows_change_nothing() -> None:
    known = {facts().person_key: facts()}
    assert plan_people([row()], known, KEYS, TODAY, "").unchanged == 1
    moved = plan_people([row(school="第二中学")], known, KEYS, TODAY, "")
    assert moved.problems == [
        "row 2: already registered with other facts (school '第一中学' → '第二中学'); give a reason to correct"
    ]
    [fixed] = plan_people([row(school="第二中学")], known, KEYS, TODAY, "调动").corrected
    assert (fixed.field, fixed.previous, fixed.value, fixed.reason) == ("school", "第一中学", "第二中学", "调动")


def test_a_correction_by_hand_needs_a_reason_a_change_and_a_value_that_fits() -> None:
    person = facts()
    assert correction(person, "post", "principal", "任命").value == "principal"
    for field, value, reason, why in [
        ("post", "principal", " ", "a correction needs a reason"),
        ("post", "teacher", "任命", "post is already 'teacher'"),
        ("post", "dean", "任命", "post: 'dean' is not a valid value"),
        ("county_code", "51", "调动", "county_code: '51' is not a six-digit division code"),
    ]:
        with pytest.raises(BankRefused, match=why):
            correction(person, field, value, reason)  # type: ignore[arg-type]


def test_credits_are_recorded_for_registered_people_with_ids_of_their_file_and_row() -> None:
    person = facts()
    credit = CreditRow(3, TEACHER, "", "校本研修", 6, "school", "school_based", date(2025, 3, 1), 1, False)
    plan = plan_credits(
        [credit],
        {person.person_key: person},
        KEYS,
        source="school",
        recorded_by="一中",
        today=TODAY,
        file_digest="ab" * 32,
    )
    assert [(e.entry_id, e.hours, e.earned_on) for e in plan.recorded] == [
        (f"school-{'ab' * 8}-3", 6.0, date(2025, 3, 1))
    ]
    nobody = plan_credits([credit], {}, KEYS, source="school", recorded_by="一中", today=TODAY, file_digest="ab" * 32)
    assert nobody.problems == ["row 3, national_id: not registered in the credit bank; import the person first"]


def test_a_reversal_is_refused_for_an_unknown_an_already_reversed_or_a_reversing_entry() -> None:
    person = facts()
    entry = Reversible("e1", None, 6.0, None)
    done = reversal(person, entry, "e1", "重复录入", "r1")
    assert (done.reverses, done.hours, done.cohort_id, done.locked_by) == ("e1", 6.0, None, None)
    for target, reason, why in [
        (None, "x", "e1: no such credit entry for this person"),
        (Reversible("e1", None, 6.0, "r0"), "x", "e1: already reversed by r0"),
        (Reversible("e1", None, -6.0, None), "x", "e1: is itself a reversal"),
        (entry, "", "a reversal needs a reason"),
    ]:
        with pytest.raises(BankRefused, match=why):
            reversal(person, target, "e1", reason, "r2")


def test_a_reversals_file_reverses_each_row_once_and_names_every_bad_row() -> None:
    person = facts()
    school_entry = BankCreditRecorded(
        entry_id="school-1", person_key=person.person_key, source="school", title="校本研修", hours=6,
        level="school", kind="school_based", earned_on=date(2025, 3, 1), recorded_by="第一中学", days=1,
        off_the_job=False,
    )  # fmt: skip
    record = PersonRecord(facts=person, entries={"school-1": school_entry})
    stranger = "11010119900101345" + check_char("11010119900101345")

    def rows(*extra: ReversalRow) -> list[ReversalRow]:
        return [ReversalRow(2, TEACHER, "李老师", "school-1", "", "重复录入", ""), *extra]

    targets = {
        2: Reversible("school-1", None, 6.0, None, earned_on=date(2025, 3, 1)),
        3: Reversible("school-1", None, 6.0, None, earned_on=date(2025, 3, 1)),
        4: Reversible("P1/online", "c1", 10.0, None, earned_on=date(2025, 6, 1)),
    }
    plan = plan_reversals(rows(), {person.person_key: record}, targets, KEYS, file_digest="cd" * 32)
    assert plan.problems == []
    [done] = plan.reversed
    assert (done.entry_id, done.reverses, done.hours, done.reason) == (
        f"reversal-{'cd' * 8}-2",
        "school-1",
        6.0,
        "重复录入",
    )

    bad = rows(
        ReversalRow(3, TEACHER, "", "school-1", "", "again", ""),
        ReversalRow(4, TEACHER, "", "P1/online", "c1", "", ""),
        ReversalRow(5, TEACHER, "王老师", "school-1", "", "x", ""),
        ReversalRow(6, stranger, "", "school-1", "", "x", ""),
        ReversalRow(7, TEACHER, "", "nothing", "", "x", ""),
    )
    plan = plan_reversals(bad, {person.person_key: record}, targets, KEYS, file_digest="cd" * 32)
    assert plan.problems == [
        f"row 3: school-1: already reversed by reversal-{'cd' * 8}-2 (in this file)",
        "row 4: a reversal needs a reason",
        "row 5, name: '王老师' is not the registered name of this ID number",
        "row 6, national_id: not registered in the credit bank",
        "row 7: nothing: no such credit entry for this person",
    ]
    outside = plan_reversals(
        rows(), {person.person_key: record}, targets, KEYS, file_digest="cd" * 32, prefecture="990100"
    )
    assert outside.problems == ["row 2, national_id: the person is registered outside your prefecture 990100"]
    locked = plan_reversals(
        rows(), {person.person_key: record}, targets, KEYS, file_digest="cd" * 32,
        locks={("510104", 2025): "reviewer:wang"},
    )  # fmt: skip
    assert [p.split(": ", 1)[0] for p in locked.problems] == ["row 2"] and "approver" in locked.problems[0]


def test_a_school_reverses_only_the_school_level_entries_it_recorded() -> None:
    person = facts()
    mine = BankCreditRecorded(
        entry_id="school-1", person_key=person.person_key, source="school", title="校本研修", hours=6,
        level="school", kind="school_based", earned_on=date(2025, 3, 1), recorded_by="第一中学", days=1,
        off_the_job=False,
    )  # fmt: skip
    theirs = mine.model_copy(update={"entry_id": "district-1", "source": "district", "recorded_by": "510104"})
    record = PersonRecord(facts=person, entries={"school-1": mine, "district-1": theirs})
    assert school_may_reverse(record, "school-1", None, "第一中学") is None
    assert school_may_reverse(record, "district-1", None, None) is None  # no school token: no such limit
    for entry_id, cohort_id, school in [
        ("district-1", None, "第一中学"),
        ("school-1", None, "二中"),
        ("P1", "c1", "第一中学"),
    ]:
        assert school_may_reverse(record, entry_id, cohort_id, school) == (
            f"{entry_id}: a school reverses only the school-level entries it recorded"
        )


def test_a_locked_year_refuses_new_credits_and_takes_reversals_that_name_its_approver() -> None:
    person = facts()
    locks = {("510104", 2025): "reviewer:wang"}
    credit = CreditRow(3, TEACHER, "", "校本研修", 6, "school", "school_based", date(2025, 3, 1), 1, False)
    plan = plan_credits(
        [credit], {person.person_key: person}, KEYS, source="school", recorded_by="一中", today=TODAY,
        file_digest="ab" * 32, locks=locks,
    )  # fmt: skip
    assert plan.problems == [
        "row 3, earned_on: 2025 is approved and locked for district 510104 (by reviewer:wang); it takes no new entries"
    ]
    entry = Reversible("e1", None, 6.0, None, earned_on=date(2025, 3, 1))
    with pytest.raises(BankRefused, match="a reversal in it names that approver"):
        reversal(person, entry, "e1", "重复录入", "r1", locks=locks, approver="reviewer:zhao")
    done = reversal(person, entry, "e1", "重复录入", "r1", locks=locks, approver="reviewer:wang")
    assert done.locked_by == "reviewer:wang"


def test_a_recognition_claim_is_decided_by_a_reviewer_of_its_level_and_unit_once() -> None:
    person = facts()
    assert [unit_of(person, level) for level in ("province", "city", "district", "school")] == [
        "province",
        "510100",
        "510104",
        "第一中学",
    ]
    claim = recognition_request(
        person, "c1", title="在线课程", hours=20, level="city", earned_on=date(2026, 3, 1), days=4, evidence="证书",
        today=TODAY,
    )  # fmt: skip
    record = PersonRecord(facts=person)
    record.apply(claim)

    with pytest.raises(BankRefused, match="decided by its own reviewers, not by a province reviewer of province"):
        recognition_decision(record, "c1", Reviewer("admin", "province", "province"), "approved", "")
    with pytest.raises(BankRefused, match="a refusal says why"):
        recognition_decision(record, "c1", Reviewer("coord", "city", "510100"), "refused", " ")
    decided, credit = recognition_decision(record, "c1", Reviewer("coord", "city", "510100"), "approved", "")
    assert isinstance(decided, RecognitionDecided) and decided.reviewer_unit == "510100"
    assert isinstance(credit, BankCreditRecorded)
    assert (credit.entry_id, credit.source, credit.hours, credit.recorded_by) == (
        "recognised-c1",
        "recognised",
        20,
        "coord",
    )
    record.apply(decided)
    with pytest.raises(BankRefused, match="claim c1: already approved"):
        recognition_decision(record, "c1", Reviewer("coord", "city", "510100"), "refused", "late")
    with pytest.raises(BankRefused, match="claim c9: no such claim"):
        recognition_decision(record, "c9", Reviewer("coord", "city", "510100"), "approved", "")


def test_a_claim_for_hours_that_could_not_have_been_earned_is_refused_with_every_reason() -> None:
    with pytest.raises(BankRefused) as refused:
        recognition_request(
            facts(), "c2", title=" ", hours=100, level="school", earned_on=date(2027, 1, 1), days=1, evidence="",
            today=TODAY,
        )  # fmt: skip
    assert refused.value.problems == [
        "hours: 100 hours in 1 day(s) is more than 24 hours a day",
        "earned_on: 2027-01-01 is in the future",
        "title: say what was studied",
    ]


def test_a_county_outside_its_prefecture_is_refused_in_a_file_and_in_a_correction() -> None:
    plan = plan_people([row(county_code="110101")], {}, KEYS, TODAY, "")
    assert plan.problems == ["row 2, county_code: 110101 is not in prefecture 510100"]
    with pytest.raises(BankRefused, match="county_code: county 110101 would not be in prefecture 510100"):
        correction(facts(), "county_code", "110101", "调动")
