"""Programme templates: shape and meaning checks, every problem listed at once, digests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.programme import ProgrammeInvalid, parse_programme, programme_problems

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, template

Template = dict[str, Any]


def problems_of(data: object) -> list[str]:
    with pytest.raises(ProgrammeInvalid) as caught:
        parse_programme(data)
    return caught.value.problems


def mutated(change: Callable[[Template], object]) -> Template:
    data = template()
    change(data)
    return data


def test_the_sample_programme_has_no_problems() -> None:
    programme = sample_programme()
    assert programme_problems(programme) == []
    assert parse_programme(programme.model_dump(mode="json")) == programme


def test_the_sample_programme_matches_the_numbers_of_the_2023_cohort() -> None:
    programme = sample_programme()
    assert programme.candidates == sum(p.quota for p in programme.prefectures) == 5000
    assert len(programme.prefectures) == 14
    assert programme.selection.target == 800


def test_the_test_template_is_valid() -> None:
    programme = parse_programme(template())
    assert programme.candidates == 10
    assert programme.prefecture(ZHUZHOU) is not None
    assert programme.prefecture("999999") is None
    assert programme.phase("selection").start_day == 40
    with pytest.raises(KeyError):
        programme.phase("orientation")  # type: ignore[arg-type]


def test_a_self_contradictory_template_lists_every_problem_at_once() -> None:
    data = template()
    data["candidates"] = 12  # quotas still add up to 10
    data["selection"]["target"] = 20
    data["phases"][1]["end_day"] = 50  # online study runs into selection (day 40)
    data["online"]["min_hours"] = -1
    data["credits"][1]["hours"] = -5
    data["online"]["required_deliverables"] = ["plan", "essay"]

    with pytest.raises(ProgrammeInvalid) as caught:
        parse_programme(data)

    expected = [
        "prefecture quotas add up to 10, but candidates is 12",
        "selection target 20 is above the number of candidates 12",
        "phases online_study and selection overlap: selection starts on day 40 before online_study ends on day 50",
        "online.min_hours must not be negative, got -1.0",
        "credits[1] (field_study): hours must not be negative, got -5.0",
        "online.required_deliverables names unknown deliverable 'essay'",
        "field-study batches hold 10 people, fewer than the selection target 20",
    ]
    for problem in expected:
        assert problem in caught.value.problems
        assert f"- {problem}" in str(caught.value)
    assert len(caught.value.problems) == len(expected)


def _drop_selection_phase(d: Template) -> None:
    del d["phases"][2]


def _set(path: str, value: object) -> Callable[[Template], None]:
    def change(d: Template) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


CASES: list[tuple[str, Callable[[Template], object], str]] = [
    (
        "phase order",
        _drop_selection_phase,
        "phases must be exactly nomination, online_study, selection, field_study, return_to_post, follow_up, "
        "completion in that order, got nomination, online_study, field_study, return_to_post, follow_up, completion",
    ),
    (
        "empty phase",
        _set("phases.6.end_day", 200),
        "phase completion: end_day 200 must come after start_day 200 (≥ 0)",
    ),
    (
        "duplicate prefecture",
        _set("prefectures.2.code", CHANGSHA),
        f"prefecture {CHANGSHA} is listed more than once",
    ),
    (
        "bad division code",
        _set("prefectures.1.code", "4302"),
        "prefecture 株洲市: code '4302' is not a six-digit division code",
    ),
    (
        "min above quota",
        _set("prefectures.2.min_selected", 4),
        f"prefecture {XIANGTAN}: min_selected 4 exceeds its quota 3",
    ),
    (
        "negative minimum",
        _set("prefectures.2.min_selected", -1),
        f"prefecture {XIANGTAN}: min_selected must not be negative",
    ),
    (
        "cap below minimum",
        lambda d: d["prefectures"][0].update(min_selected=2, max_selected=1),
        f"prefecture {CHANGSHA}: max_selected 1 is below min_selected 2",
    ),
    (
        "caps below target",
        lambda d: [p.update(max_selected=1) for p in d["prefectures"]],
        "prefecture caps add up to 3, below the selection target 4",
    ),
    (
        "negative waiting list",
        _set("selection.waiting_list", -1),
        "selection waiting_list must not be negative",
    ),
    ("negative hours cap", _set("selection.hours_cap", -10), "selection.hours_cap must not be negative"),
    (
        "attendance ratio",
        _set("field_study.min_attendance_ratio", 1.5),
        "field_study.min_attendance_ratio must be between 0 and 1",
    ),
    (
        "batch past phase end",
        _set("field_study.sites.0.batches.1.days", 20),
        "site CS batch B2 runs past the end of the field-study phase",
    ),
    (
        "overlapping batches",
        _set("field_study.sites.0.batches.1.start_day", 10),
        "site CS: batches B1 and B2 overlap",
    ),
    (
        "survey after phase end",
        _set("follow_up.1.after_days", 96),
        "follow-up survey m6: after_days 96 falls outside the follow-up phase",
    ),
    ("duplicate survey", _set("follow_up.1.code", "m1"), "follow-up survey m1 is listed more than once"),
    ("version zero", _set("version", 0), "version must be 1 or more"),
]


@pytest.mark.parametrize(("change", "problem"), [(c, p) for _, c, p in CASES], ids=[name for name, _, _ in CASES])
def test_each_rule_reports_its_own_problem(change: Callable[[Template], object], problem: str) -> None:
    assert problems_of(mutated(change)) == [problem]


def test_minimums_above_target_are_refused() -> None:
    data = template()
    for pref in data["prefectures"]:
        pref["min_selected"] = 2
    assert problems_of(data) == ["prefecture minimums add up to 6, above the selection target 4"]


def test_zero_quota_and_zero_target_are_refused() -> None:
    data = template()
    data["prefectures"][2]["quota"] = 0
    data["candidates"] = 7
    data["selection"]["target"] = 0
    problems = problems_of(data)
    assert f"prefecture {XIANGTAN}: quota must be positive, got 0" in problems
    assert "selection target must be positive, got 0" in problems


def test_a_field_study_without_sites_is_refused() -> None:
    data = template()
    data["field_study"]["sites"] = []
    assert problems_of(data) == [
        "field_study needs at least one site",
        "field-study batches hold 0 people, fewer than the selection target 4",
    ]


def test_every_overlapping_pair_of_batches_is_listed() -> None:
    # B1 overlaps both B2 and B3, although B2 and B3 do not overlap each other.
    data = template()
    data["field_study"]["sites"][0]["batches"] = [
        {"code": "B1", "capacity": 5, "start_day": 0, "days": 30},
        {"code": "B2", "capacity": 5, "start_day": 5, "days": 5},
        {"code": "B3", "capacity": 5, "start_day": 12, "days": 8},
    ]
    problems = problems_of(data)
    assert "site CS: batches B1 and B2 overlap" in problems
    assert "site CS: batches B1 and B3 overlap" in problems


@pytest.mark.parametrize("phase", ["nomination", "selection"])
def test_credits_on_a_phase_that_grants_none_are_refused(phase: str) -> None:
    data = template()
    data["credits"].append({"phase": phase, "hours": 5, "level": "school"})
    assert problems_of(data) == [
        f"credits[5]: phase {phase} grants no credits; use one of "
        "online_study, field_study, return_to_post, follow_up, completion"
    ]


def test_shape_errors_are_all_listed_with_their_field_path() -> None:
    data = template()
    del data["name"]
    data["candidates"] = "many"
    data["phases"][1]["end_day"] = "soon"
    data["credits"][0]["level"] = "nation"
    data["colour"] = "red"

    problems = problems_of(data)

    assert "name: Field required" in problems
    assert any(p.startswith("candidates: Input should be a valid integer") for p in problems)
    assert any(p.startswith("phases.1.end_day: Input should be a valid integer") for p in problems)
    assert any(
        p.startswith("credits.0.level: Input should be 'province', 'city', 'district' or 'school'") for p in problems
    )
    assert "colour: Extra inputs are not permitted" in problems
    assert len(problems) == 5


def test_a_template_that_is_not_a_mapping_is_refused() -> None:
    problems = problems_of(["not", "a", "template"])
    assert len(problems) == 1
    assert "valid dictionary" in problems[0]


def test_programmes_are_frozen() -> None:
    programme = parse_programme(template())
    with pytest.raises(ValidationError):
        programme.version = 2  # type: ignore[misc]


def test_digest_is_stable_and_ignores_key_order() -> None:
    data = template()
    reordered = dict(reversed(list(data.items())))
    first = parse_programme(data).digest
    assert parse_programme(template()).digest == first
    assert parse_programme(reordered).digest == first
    assert len(first) == 64
    assert sample_programme().digest == sample_programme().digest


def test_digest_ignores_how_numbers_are_spelt() -> None:
    data = template()
    data["online"]["min_hours"] = 100.0
    respelt = template()
    respelt["online"]["min_hours"] = 100
    assert parse_programme(data).digest == parse_programme(respelt).digest


def test_digest_changes_with_version_and_rules() -> None:
    base = sample_programme().digest
    assert sample_programme(version=2).digest != base

    data = template()
    changed = template()
    changed["selection"]["hours_cap"] = 150
    assert parse_programme(changed).digest != parse_programme(data).digest
