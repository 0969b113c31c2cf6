"""Rotation plans: their yearly cohorts, their checks, and the refusal of someone enrolled in another cohort."""

from __future__ import annotations

from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.events import RosterEntered
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.rotation_plan import RosterCheck, RosterRow, RotationPlan, plan_problems
from tests.domain.builders import KEYS


def plan(**changes: object) -> RotationPlan:
    values: dict[str, object] = {
        "id": "furong-placement",
        "name": "芙蓉区校长跟岗轮训",
        "programme_id": "p",
        "programme_version": 1,
        "first_year": 2026,
        "years": 5,
    }
    return RotationPlan.model_validate(values | changes)


def test_a_plan_names_one_cohort_a_year() -> None:
    assert plan().cohort_ids == [f"furong-placement-{year}" for year in range(2026, 2031)]
    assert plan_problems(plan()) == []


def test_a_plan_that_cannot_run_lists_every_problem() -> None:
    assert plan_problems(plan(id="芙蓉 plan", name=" ", years=11, first_year=26)) == [
        "plan id '芙蓉 plan' must be letters, digits, '.', '_' or '-'",
        "a plan needs a name",
        "years must be between 1 and 10, got 11",
        "first_year 26 is not a plausible calendar year",
    ]


def test_a_nominee_enrolled_in_another_cohort_of_the_plan_is_refused_and_takes_no_place() -> None:
    programme = sample_programme(120, 20)
    person = nominees(programme, seed=3)[0]
    check = NominationCheck(programme, keys=KEYS)
    screened = check.screen(person)
    refused = check.decide(screened, id_seen=False, person_seen=False, enrolled_in="furong-placement-2026")
    masked = person.national_id[:6] + "*" * 11 + person.national_id[-1]
    assert refused == [
        f"row {person.row}, national_id: {masked} is already enrolled in cohort furong-placement-2026 "
        "of this rotation plan"
    ]
    accepted = check.decide(screened, id_seen=False, person_seen=False)
    assert not isinstance(accepted, list) and accepted.participant_id == person.participant_id


def test_roster_rows_are_checked_and_each_person_listed_once() -> None:
    programme = sample_programme(120, 20)
    people = nominees(programme, seed=4)
    known = {"someone-else"}
    check = RosterCheck(programme, known, KEYS)

    def row(n: int, p: NomineeRow, **changes: str) -> RosterRow:
        values = {"name": p.name, "national_id": p.national_id, "prefecture_code": p.prefecture_code} | changes
        return RosterRow(row=n, **values)

    entered = check.check(row(2, people[0], name=f" {people[0].name} "))
    assert isinstance(entered, RosterEntered) and entered.name == people[0].name
    assert entered.person_key in known
    masked = people[0].national_id[:6] + "*" * 11 + people[0].national_id[-1]
    assert check.check(row(3, people[0])) == [f"row 3, national_id: {masked} is already on the roster"]
    assert check.check(row(4, people[1], name="", prefecture_code="430199")) == [
        "row 4, name: is empty",
        "row 4, prefecture_code: '430199' is not a prefecture of the programme",
    ]
