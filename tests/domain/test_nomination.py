"""Nominee rows: every bad row named with its field and reason, nothing applied if any is bad."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cohortflow.demo import sample
from cohortflow.domain import national_id
from cohortflow.domain.events import CandidateNominated
from cohortflow.domain.nomination import InvalidRecords, NominationCheck, NomineeRow, nominate
from cohortflow.domain.placement import PlacementImpossible, allocate

from .builders import CHANGSHA, KEYS, XIANGTAN, ZHUZHOU, programme

PROGRAMME = sample.sample_programme(300, 40)


def rows() -> list[NomineeRow]:
    return sample.nominees(PROGRAMME, 9)


def test_valid_rows_become_nominations_with_pseudonymous_person_keys() -> None:
    events = nominate(PROGRAMME, rows(), keys=KEYS)
    assert len(events) == 300
    assert len({e.person_key for e in events}) == 300
    assert all(e.person_key not in e.national_id and len(e.person_key) == 24 for e in events)


def test_every_bad_row_is_reported_and_nothing_is_nominated() -> None:
    good = rows()
    first_code = PROGRAMME.prefectures[0].code
    bad = [
        *good,
        dataclasses.replace(good[0], row=400, participant_id="X1"),  # same person again
        dataclasses.replace(
            good[1],
            row=401,
            participant_id="X2",
            national_id=good[1].national_id[:17] + "0"
            if good[1].national_id[17] != "0"
            else good[1].national_id[:17] + "1",
        ),
        dataclasses.replace(good[2], row=402, participant_id="X3", prefecture_code="999999"),
        dataclasses.replace(good[3], row=403, participant_id="X4", gender="?", name=" "),
        dataclasses.replace(good[4], row=404, participant_id="P000005"),  # id used twice
    ]
    with pytest.raises(InvalidRecords) as err:
        nominate(PROGRAMME, bad, keys=KEYS)
    problems = err.value.problems
    assert any(p.startswith("row 400, national_id: the same person") for p in problems)
    assert any(p.startswith("row 401, national_id: check digit is") for p in problems)
    assert any(p.startswith("row 402, prefecture_code: '999999' is not a prefecture") for p in problems)
    assert any(p.startswith("row 403, gender") for p in problems)
    assert any(p.startswith("row 403, name: is empty") for p in problems)
    assert any(p.startswith("row 404, participant_id: P000005 appears twice") for p in problems)
    assert all(first_code not in p or "quota" not in p for p in problems)


def test_rows_over_a_prefecture_quota_are_each_refused() -> None:
    pref = PROGRAMME.prefectures[-1]
    extra = [dataclasses.replace(sample.nominee(9000 + i, pref.code, pref.name, 9), row=500 + i) for i in range(2)]
    with pytest.raises(InvalidRecords) as err:
        nominate(PROGRAMME, [*rows(), *extra], keys=KEYS)
    assert [p for p in err.value.problems if "quota" in p] == [
        f"row 500, prefecture_code: {pref.code} ({pref.name}) is over its quota {pref.quota}",
        f"row 501, prefecture_code: {pref.code} ({pref.name}) is over its quota {pref.quota}",
    ]


def test_placements_deal_evenly_within_capacity_and_are_deterministic() -> None:
    selected = [f"P{i:06d}" for i in range(1, 41)]
    placements = allocate(selected, PROGRAMME.field_study)
    assert placements == allocate(selected, PROGRAMME.field_study)
    assert [p.participant_id for p in placements] == selected
    per_batch: dict[tuple[str, str], int] = {}
    for p in placements:
        per_batch[(p.site, p.batch)] = per_batch.get((p.site, p.batch), 0) + 1
    capacities = {(s.code, b.code): b.capacity for s in PROGRAMME.field_study.sites for b in s.batches}
    assert set(per_batch) == set(capacities)
    assert all(n <= capacities[k] for k, n in per_batch.items())
    assert max(per_batch.values()) - min(per_batch.values()) <= 1
    with pytest.raises(PlacementImpossible):
        allocate([f"P{i}" for i in range(sum(capacities.values()) + 1)], PROGRAMME.field_study)


# --- the incremental check, on the small hand-made programme -----------------------------------

SMALL = programme()  # quotas: 长沙 4, 株洲 3, 湘潭 3


def nominee(n: int, prefecture: str = CHANGSHA, **fields: Any) -> NomineeRow:
    """Row ``n + 1`` of a sheet: participant Pn, a valid ID number unique to n and the prefecture."""
    first17 = f"{prefecture}19750101{n:03d}"
    row = NomineeRow(
        row=n + 1,
        participant_id=f"P{n}",
        name=f"候选人{n}",
        national_id=first17 + national_id.check_char(first17),
        gender="F" if n % 2 else "M",
        prefecture_code=prefecture,
        school="长沙东区第一中学",
        role="校长",
    )
    return dataclasses.replace(row, **fields)


def test_a_good_row_becomes_a_nomination_with_trimmed_fields_and_a_person_key() -> None:
    r = nominee(1, ZHUZHOU, name=" 李娜 ", school=" 株洲一中 ", role=" 副校长 ")
    nid = r.national_id
    r = dataclasses.replace(r, national_id=f"  {nid.lower()} ")
    assert NominationCheck(SMALL, keys=KEYS).check(r) == CandidateNominated(
        participant_id="P1",
        person_key=KEYS.of(nid),
        name="李娜",
        national_id=nid,
        gender="F",
        prefecture_code=ZHUZHOU,
        school="株洲一中",
        role="副校长",
    )


def test_a_national_id_with_a_lower_case_x_is_the_same_person_as_upper_case() -> None:
    n = next(i for i in range(1000) if national_id.check_char(f"{CHANGSHA}19750101{i:03d}") == "X")
    upper = nominee(n)
    check = NominationCheck(SMALL, keys=KEYS)
    assert isinstance(check.check(upper), CandidateNominated)
    lower = dataclasses.replace(upper, row=99, participant_id="Q1", national_id=upper.national_id.lower())
    assert check.check(lower) == [
        f"row 99, national_id: the same person ({national_id.mask(upper.national_id)}) is nominated twice"
    ]


def test_an_invalid_national_id_is_refused_with_its_reason() -> None:
    assert NominationCheck(SMALL, keys=KEYS).check(nominee(1, national_id="12345")) == [
        "row 2, national_id: must be 18 characters, got 5"
    ]


def test_a_prefecture_outside_the_programme_is_refused() -> None:
    assert NominationCheck(SMALL, keys=KEYS).check(nominee(1, prefecture_code="999999")) == [
        "row 2, prefecture_code: '999999' is not a prefecture of this programme"
    ]


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(name: str) -> None:
    assert NominationCheck(SMALL, keys=KEYS).check(nominee(1, name=name)) == ["row 2, name: is empty"]


@pytest.mark.parametrize("gender", ["", "m", "X", "男"])
def test_a_gender_other_than_m_or_f_is_refused(gender: str) -> None:
    assert NominationCheck(SMALL, keys=KEYS).check(nominee(1, gender=gender)) == [
        f"row 2, gender: {gender!r} must be M or F"
    ]


def test_every_problem_of_one_row_is_reported_together() -> None:
    assert NominationCheck(SMALL, keys=KEYS).check(
        nominee(4, national_id="", prefecture_code="1", name="", gender="?")
    ) == [
        "row 5, national_id: must be 18 characters, got 0",
        "row 5, prefecture_code: '1' is not a prefecture of this programme",
        "row 5, name: is empty",
        "row 5, gender: '?' must be M or F",
    ]


def test_a_coordinator_nominates_in_their_own_prefecture() -> None:
    assert isinstance(
        NominationCheck(SMALL, keys=KEYS, prefecture=ZHUZHOU).check(nominee(1, ZHUZHOU)), CandidateNominated
    )


def test_a_coordinator_cannot_nominate_in_another_prefecture() -> None:
    assert NominationCheck(SMALL, keys=KEYS, prefecture=ZHUZHOU).check(nominee(1, CHANGSHA)) == [
        "row 2, prefecture_code: 430100 is not your prefecture (430200)"
    ]


def test_rows_refused_for_another_prefecture_use_up_no_quota() -> None:
    check = NominationCheck(SMALL, keys=KEYS, prefecture=ZHUZHOU)
    for n in range(1, 6):
        assert isinstance(check.check(nominee(n, CHANGSHA)), list)
    outcomes = [check.check(nominee(n, ZHUZHOU)) for n in range(10, 13)]
    assert all(isinstance(o, CandidateNominated) for o in outcomes)


def test_a_participant_id_from_an_earlier_import_is_refused() -> None:
    check = NominationCheck(SMALL, keys=KEYS, known_ids={"P1"})
    assert check.check(nominee(1)) == ["row 2, participant_id: P1 is already nominated in this cohort"]


def test_a_person_from_an_earlier_import_is_refused_under_a_new_id() -> None:
    earlier = nominee(1)
    nid = earlier.national_id
    check = NominationCheck(SMALL, keys=KEYS, known_people={KEYS.of(nid)}, known_ids={"P1"})
    again = dataclasses.replace(earlier, participant_id="P77")
    assert check.check(again) == [f"row 2, national_id: the same person ({national_id.mask(nid)}) is nominated twice"]
    assert national_id.mask(nid) == nid[:6] + "*" * 11 + nid[-1]


def test_earlier_nominations_count_against_the_quota() -> None:
    check = NominationCheck(SMALL, keys=KEYS, already={CHANGSHA: 3})
    assert isinstance(check.check(nominee(1)), CandidateNominated)
    assert check.check(nominee(2)) == ["row 3, prefecture_code: 430100 (长沙市) is over its quota 4"]
    assert isinstance(check.check(nominee(3, ZHUZHOU)), CandidateNominated)


def test_a_full_quota_refuses_every_further_row() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    assert all(isinstance(check.check(nominee(n, XIANGTAN)), CandidateNominated) for n in range(1, 4))
    assert check.check(nominee(4, XIANGTAN)) == ["row 5, prefecture_code: 430300 (湘潭市) is over its quota 3"]
    assert check.check(nominee(5, XIANGTAN)) == ["row 6, prefecture_code: 430300 (湘潭市) is over its quota 3"]


def test_a_row_refused_for_another_reason_uses_up_no_quota() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    assert check.check(nominee(1, XIANGTAN, gender="?")) == ["row 2, gender: '?' must be M or F"]
    assert all(isinstance(check.check(nominee(n, XIANGTAN)), CandidateNominated) for n in range(2, 5))


def test_the_same_participant_id_twice_in_one_file_is_refused_the_second_time() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    assert isinstance(check.check(nominee(1)), CandidateNominated)
    assert check.check(nominee(2, participant_id="P1")) == ["row 3, participant_id: P1 appears twice"]


def test_the_same_person_twice_in_one_file_is_refused_the_second_time() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    first = nominee(1)
    assert isinstance(check.check(first), CandidateNominated)
    second = nominee(2, national_id=first.national_id)
    assert check.check(second) == [
        f"row 3, national_id: the same person ({national_id.mask(first.national_id)}) is nominated twice"
    ]


def test_a_person_refused_over_quota_may_be_nominated_in_another_prefecture() -> None:
    # Only an accepted nomination makes a person "known".
    check = NominationCheck(SMALL, keys=KEYS, already={CHANGSHA: 4})
    row = nominee(1)
    assert isinstance(check.check(row), list)
    assert isinstance(check.check(nominee(2, ZHUZHOU, national_id=row.national_id)), CandidateNominated)


def test_nominate_counts_earlier_imports_and_is_all_or_nothing() -> None:
    earlier = nominee(1)
    with pytest.raises(InvalidRecords) as err:
        nominate(
            SMALL,
            [nominee(5), nominee(6, XIANGTAN), dataclasses.replace(earlier, participant_id="P9", row=9)],
            already={CHANGSHA: 3},
            known_people={KEYS.of(earlier.national_id)},
            keys=KEYS,
        )
    assert err.value.problems == [
        f"row 9, national_id: the same person ({national_id.mask(earlier.national_id)}) is nominated twice"
    ]
    assert [
        e.participant_id for e in nominate(SMALL, [nominee(5), nominee(6, XIANGTAN)], {CHANGSHA: 3}, keys=KEYS)
    ] == [
        "P5",
        "P6",
    ]


def test_invalid_records_lists_at_most_twenty_problems() -> None:
    err = InvalidRecords([f"row {n}, name: is empty" for n in range(25)])
    text = str(err)
    assert text.startswith("25 bad record(s):\n- row 0, name: is empty")
    assert "row 19, name" in text and "row 20, name" not in text
    assert text.endswith("… and 5 more")
    assert len(err.problems) == 25


# --- repeats found elsewhere: screen, then decide in file order ----------------------------------


def test_screening_a_row_changes_nothing() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    for n in range(1, 10):
        check.screen(nominee(n, XIANGTAN))  # 湘潭 takes 3: screening uses up no place and remembers no one
    assert all(
        isinstance(
            check.decide(check.screen(nominee(n, XIANGTAN)), id_seen=False, person_seen=False), CandidateNominated
        )
        for n in range(1, 4)
    )


def test_a_screened_row_carries_its_own_problems_and_its_person_key() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    good, bad = check.screen(nominee(1)), check.screen(nominee(2, national_id="12345", gender="?"))
    assert good.problems == () and good.person_key == KEYS.of(nominee(1).national_id)
    assert bad.person_key == "" and bad.problems == (
        "row 3, national_id: must be 18 characters, got 5",
        "row 3, gender: '?' must be M or F",
    )


def test_repeats_found_elsewhere_are_reported_in_the_same_words_after_the_rows_own_problems() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    row = nominee(1, gender="?")
    assert check.decide(check.screen(row), id_seen=True, person_seen=True) == [
        "row 2, gender: '?' must be M or F",
        "row 2, participant_id: P1 appears twice",
        f"row 2, national_id: the same person ({national_id.mask(row.national_id)}) is nominated twice",
    ]


def test_a_repeat_found_elsewhere_uses_up_no_quota() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    for n in range(1, 6):
        assert isinstance(check.decide(check.screen(nominee(n, XIANGTAN)), id_seen=True, person_seen=False), list)
    assert all(
        isinstance(
            check.decide(check.screen(nominee(n, XIANGTAN)), id_seen=False, person_seen=False), CandidateNominated
        )
        for n in range(6, 9)
    )


def test_an_id_already_in_the_cohort_is_reported_as_such_even_when_also_repeated_in_the_file() -> None:
    check = NominationCheck(SMALL, keys=KEYS, known_ids={"P1"})
    assert check.decide(check.screen(nominee(1)), id_seen=True, person_seen=False) == [
        "row 2, participant_id: P1 is already nominated in this cohort"
    ]


def test_decide_remembers_nothing_of_the_rows_it_accepts() -> None:
    check = NominationCheck(SMALL, keys=KEYS)
    row = nominee(1)
    assert isinstance(check.decide(check.screen(row), id_seen=False, person_seen=False), CandidateNominated)
    assert isinstance(check.decide(check.screen(row), id_seen=False, person_seen=False), CandidateNominated)
