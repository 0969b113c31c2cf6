"""A coordinator's changes to the credit bank stay within their prefecture: the decisions, without a store."""

from __future__ import annotations

from datetime import date

import pytest

from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.registry import (
    BankRefused,
    CreditRow,
    PersonRow,
    correction,
    plan_credits,
    plan_people,
    within,
)
from cohortflow.domain.national_id import PersonKeys

KEYS = PersonKeys(b"0123456789abcdef")
TODAY = date(2026, 6, 1)
HOME, AWAY = "430100", "430200"
OURS = "430102197203141234"
THEIRS = "430202198002022335"


def row(number: int, national_id: str, prefecture: str, school: str = "第一中学") -> PersonRow:
    return PersonRow(number, "某人", national_id, "teacher", None, school, prefecture[:4] + "02", prefecture, None, "")


def facts(national_id: str, prefecture: str) -> PersonFacts:
    return PersonFacts(
        person_key=KEYS.of(national_id),
        name="某人",
        national_id=national_id,
        post="teacher",
        took_post_on=None,
        school="第一中学",
        county_code=prefecture[:4] + "02",
        prefecture_code=prefecture,
        school_level=None,
        subject="",
    )


def credit(number: int, national_id: str) -> CreditRow:
    return CreditRow(number, national_id, "", "校本教研", 6, "school", "school_based", date(2025, 5, 9), 1, False)


def test_a_coordinators_people_file_names_each_row_outside_their_prefecture() -> None:
    registered = {KEYS.of(THEIRS): facts(THEIRS, AWAY)}
    rows = [row(2, OURS, HOME), row(3, THEIRS, AWAY), row(4, THEIRS, HOME, "第二中学")]
    plan = plan_people(rows, registered, KEYS, TODAY, "moved", HOME)
    assert plan.problems == [
        "row 3, prefecture_code: 430200 is outside your prefecture 430100",
        "row 4: the person is registered outside your prefecture 430100",
    ]
    everyone = plan_people(rows[:2], registered, KEYS, TODAY, "", None)
    assert (everyone.problems, len(everyone.registered), everyone.unchanged) == ([], 1, 1)


def test_a_coordinators_credits_are_for_people_of_their_prefecture_only() -> None:
    people = {KEYS.of(n): facts(n, p) for n, p in ((OURS, HOME), (THEIRS, AWAY))}

    def plan(prefecture: str | None) -> list[str]:
        rows = [credit(2, OURS), credit(3, THEIRS)]
        found = plan_credits(
            rows, people, KEYS, source="school", recorded_by="第一中学", today=TODAY, file_digest="0" * 64,
            prefecture=prefecture,
        )  # fmt: skip
        return found.problems

    assert plan(HOME) == ["row 3, national_id: the person is registered outside your prefecture 430100"]
    assert plan(None) == []


def test_a_coordinator_corrects_and_reverses_only_their_people_and_moves_none_away() -> None:
    ours, theirs = facts(OURS, HOME), facts(THEIRS, AWAY)
    with pytest.raises(BankRefused, match=r"registered outside your prefecture 430100"):
        correction(theirs, "school", "第二中学", "moved", HOME)
    with pytest.raises(BankRefused, match=r"prefecture_code: 430200 is outside your prefecture 430100"):
        correction(ours, "prefecture_code", AWAY, "moved", HOME)
    with pytest.raises(BankRefused, match=r"county 430102 would not be in prefecture 430200; a move to another"):
        correction(ours, "prefecture_code", AWAY, "moved", None)  # an admin too: the county must move with it
    assert correction(ours, "school", "第二中学", "moved", HOME).previous == "第一中学"
    with pytest.raises(BankRefused, match=rf"person {theirs.person_key}: the person is registered outside"):
        within(theirs, HOME)
    within(theirs, None)
    within(ours, HOME)
