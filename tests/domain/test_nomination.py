"""Nominee rows: every bad row named with its field and reason, nothing applied if any is bad."""

from __future__ import annotations

import dataclasses

import pytest

from cohortflow import sample
from cohortflow.domain.nomination import InvalidRecords, NomineeRow, nominate
from cohortflow.domain.placement import PlacementImpossible, allocate

PROGRAMME = sample.sample_programme(300, 40)


def rows() -> list[NomineeRow]:
    return sample.nominees(PROGRAMME, 9)


def test_valid_rows_become_nominations_with_pseudonymous_person_keys() -> None:
    events = nominate(PROGRAMME, rows())
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
        nominate(PROGRAMME, bad)
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
        nominate(PROGRAMME, [*rows(), *extra])
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
