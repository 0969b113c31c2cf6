from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml

from cohortflow.domain.credit_bank.credits import Credit, credit_problems
from cohortflow.domain.credit_bank.people import Person
from cohortflow.domain.credit_bank.requirements import RequirementBook, parse_book
from cohortflow.domain.credit_bank.standing import level_shares, standing

EXAMPLE = Path(__file__).parents[3] / "cohortflow" / "domain" / "credit_bank" / "province.yaml"
BOOK: RequirementBook = parse_book(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
PRINCIPAL = Person("p1", "principal", took_post_on=date(2026, 3, 1), born_on=date(1980, 6, 1))


def credit(entry_id: str, hours: float, earned: date, recorded: date | None = None, **more: Any) -> Credit:
    fields: dict[str, Any] = {"level": "province", "kind": "improvement", "source": "cohort"} | more
    return Credit(entry_id, "p1", hours, earned_on=earned, recorded_on=recorded or earned, **fields)


def rule(person: Person, credits: list[Credit], as_of: date, rule_id: str, **view: Any) -> Any:
    found = {s.rule_id: s for s in standing(person, credits, BOOK.in_force(as_of), as_of, **view)}
    return found[rule_id]


def test_hours_earned_in_an_earlier_cycle_and_recorded_later_count_in_the_cycle_they_were_earned() -> None:
    old_course = credit("e1", 120, date(2022, 7, 10), recorded=date(2026, 2, 1))
    this_cycle = credit("e2", 40, date(2026, 5, 1))
    ledger = [old_course, this_cycle]
    in_2025 = rule(PRINCIPAL, ledger, date(2025, 12, 31), "principal-cycle")
    assert (in_2025.achieved, in_2025.window) == (120, (date(2021, 1, 1), date(2025, 12, 31)))
    assert in_2025.counted == (old_course,)
    # What a statement printed at the end of 2025 said: the course had not been recorded yet.
    as_printed = rule(PRINCIPAL, ledger, date(2025, 12, 31), "principal-cycle", view="recorded_then")
    assert (as_printed.achieved, as_printed.missing) == (0, 360)
    now = rule(PRINCIPAL, ledger, date(2026, 6, 1), "principal-cycle")
    assert (now.achieved, now.window) == (40, (date(2026, 1, 1), date(2030, 12, 31)))


def test_a_reversal_drops_the_total_below_the_requirement_and_the_statement_says_why() -> None:
    ledger = [
        credit("e1", 300, date(2023, 4, 1)),
        credit("e2", 80, date(2024, 9, 1)),
        credit("r1", 0, date(2025, 3, 1), reverses="e2", reason="attendance was recorded twice"),
    ]
    printed = rule(PRINCIPAL, ledger, date(2025, 2, 1), "principal-cycle", view="recorded_then")
    assert printed.met and printed.achieved == 380  # the reversal was recorded after this date
    assert rule(PRINCIPAL, ledger, date(2025, 2, 1), "principal-cycle").achieved == 300  # as known now
    after = rule(PRINCIPAL, ledger, date(2025, 6, 1), "principal-cycle")
    assert (after.met, after.achieved, after.missing) == (False, 300, 60)
    reversal = after.counted[-1]
    assert (reversal.entry_id, reversal.hours, reversal.earned_on) == ("r1", -80, date(2024, 9, 1))
    assert after.why == (
        "60 hours missing by 2025-12-31: 300 of 360 hours in the cycle 2021–2025;"
        " 80 hours of entry e2 reversed (attendance was recorded twice)"
    )


def test_a_new_principal_has_until_six_months_after_taking_post_for_300_qualifying_hours() -> None:
    ledger = [
        credit("q1", 200, date(2025, 11, 20), kind="qualification"),
        credit("q0", 150, date(2022, 1, 10), kind="qualification"),  # more than 36 months before taking post
        credit("i1", 90, date(2026, 4, 1)),  # improvement training does not qualify under version 2
    ]
    progress = rule(PRINCIPAL, ledger, date(2026, 5, 1), "principal-qualification")
    assert (progress.achieved, progress.missing, progress.window) == (200, 100, (date(2023, 3, 1), date(2026, 9, 1)))
    assert progress.why.startswith("100 hours missing by 2026-09-01: 200 of 300 hours in qualifying training")
    ledger.append(credit("q2", 100, date(2026, 8, 30), kind="qualification"))
    assert rule(PRINCIPAL, ledger, date(2026, 9, 1), "principal-qualification").met
    undated = Person("p1", "principal")
    unknown = rule(undated, ledger, date(2026, 9, 1), "principal-qualification")
    assert (unknown.met, unknown.window, unknown.why) == (False, None, "the day they took post is not recorded")


def test_a_party_secretary_needs_days_off_the_job_every_three_years() -> None:
    secretary = Person("p1", "party_secretary")
    ledger = [
        credit("d1", 24, date(2026, 4, 3), days=3, off_the_job=True),
        credit("d2", 16, date(2026, 5, 6), days=2),  # on the job: counts for hours, not days
    ]
    days = rule(secretary, ledger, date(2026, 6, 1), "secretary-days")
    assert (days.unit, days.achieved, days.missing, days.window) == (
        "days",
        3,
        2,
        (date(2024, 1, 1), date(2026, 12, 31)),
    )
    ledger.append(credit("d3", 16, date(2026, 10, 9), days=2, off_the_job=True))
    assert rule(secretary, ledger, date(2026, 11, 1), "secretary-days").met
    ledger.append(credit("r3", 0, date(2026, 11, 2), reverses="d3", reason="cancelled"))
    assert rule(secretary, ledger, date(2026, 11, 3), "secretary-days").achieved == 3


def test_only_the_persons_own_entries_count() -> None:
    someone_else = Credit("x1", "p2", 500, "province", "improvement", "cohort", date(2024, 1, 1), date(2024, 1, 1))
    assert rule(PRINCIPAL, [someone_else], date(2025, 1, 1), "principal-cycle").achieved == 0


def test_level_shares_of_a_cycle() -> None:
    ledger = [credit("a", 30, date(2024, 1, 1)), credit("b", 90, date(2024, 2, 1), level="school")]
    assert level_shares(ledger) == {"province": 0.25, "city": 0.0, "district": 0.0, "school": 0.75}
    assert level_shares([]) == {"province": 0.0, "city": 0.0, "district": 0.0, "school": 0.0}


def test_impossible_credits_are_refused_with_the_field_and_the_reason() -> None:
    today = date(2026, 12, 4)
    assert credit_problems(credit("ok", 8, date(2026, 1, 1)), PRINCIPAL, today) == []
    assert credit_problems(credit("f", 8, date(2027, 1, 1)), PRINCIPAL, today) == [
        "entry f, earned_on: 2027-01-01 is in the future"
    ]
    assert credit_problems(credit("r", 8, date(2026, 2, 1), recorded=date(2026, 1, 1)), PRINCIPAL, today) == [
        "entry r, recorded_on: 2026-01-01 is before the hours were earned"
    ]
    problems = credit_problems(credit("b", -3, date(1979, 1, 1)), PRINCIPAL, today)
    assert problems == [
        "entry b, hours: -3 is not a positive number of hours",
        "entry b, earned_on: 1979-01-01 is before the person was born",
    ]
    assert credit_problems(credit("d", 30, date(2026, 1, 1)), PRINCIPAL, today) == [
        "entry d, hours: 30 hours in 1 day(s) is more than 24 hours a day"
    ]
    assert credit_problems(credit("n", 8, date(2026, 1, 1), days=0), PRINCIPAL, today) == [
        "entry n, days: 0 is not a number of days (at least 1)"
    ]


def test_a_deadline_months_after_the_end_of_a_month_falls_on_the_last_day_of_the_shorter_month() -> None:
    late_in_august = Person("p1", "principal", took_post_on=date(2025, 8, 31))
    qualification = rule(late_in_august, [], date(2025, 9, 1), "principal-qualification")
    assert qualification.window == (date.min, date(2026, 2, 28))  # version 1: any time before taking post
