from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from cohortflow.domain.credit_bank.people import Person
from cohortflow.domain.credit_bank.requirements import RequirementsInvalid, parse_book
from cohortflow.texts.phrasebook import translate

EXAMPLE = Path(__file__).parents[3] / "cohortflow" / "domain" / "credit_bank" / "province.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RequirementsInvalid) as refused:
        parse_book(data)
    return refused.value.problems


def test_the_shipped_example_parses_and_each_day_is_judged_by_the_version_in_force() -> None:
    book = parse_book(example())
    assert book.in_force(date(2019, 5, 1)).version == 1  # before any version: the first judges
    assert book.in_force(date(2025, 12, 31)).version == 1
    assert book.in_force(date(2026, 1, 1)).version == 2
    secretary = Person("k", "party_secretary")
    assert [r.id for r in book.in_force(date(2026, 3, 1)).rules_for(secretary)] == ["principal-cycle", "secretary-days"]
    assert [r.id for r in book.in_force(date(2025, 3, 1)).rules_for(secretary)] == ["principal-cycle"]


def test_hours_convert_to_credits_by_the_table_of_the_version() -> None:
    version = parse_book(example()).versions[0]
    assert version.credits(35, "improvement") == 3.5
    assert version.credits(30, "school_based") == 2.5
    without_external = version.model_copy(update={"credit_table": version.credit_table[:1]})
    assert without_external.credits(30, "external") is None


def test_every_contradiction_is_listed_at_once() -> None:
    data = example()
    first = data["versions"][0]
    first["rules"].append(dict(first["rules"][0]))
    first["level_targets"]["school"] = 0.6
    first["credit_table"][1]["kinds"] = ["school_based", "improvement"]
    data["versions"][1]["effective_from"] = "2020-01-01"
    assert problems_of(data) == [
        "version 1: rule principal-qualification is listed more than once",
        "version 1: level_targets: the shares add up to 110%, not 100%",
        "version 1: credit_table: training kind improvement is listed more than once",
        "versions: each must take effect after the one before it",
    ]


def test_a_rule_of_the_wrong_shape_names_its_field() -> None:
    data = example()
    data["versions"][0]["rules"][1]["hours"] = -5
    data["versions"][0]["rules"][2]["posts"] = ["janitor"]
    problems = problems_of(data)
    assert any(p.startswith("versions.0.rules.1.hours_per_cycle.hours:") for p in problems), problems
    assert any(p.startswith("versions.0.rules.2.hours_per_cycle.posts.0:") for p in problems), problems


def test_the_refusal_is_said_in_chinese_item_by_item() -> None:
    data = example()
    data["versions"][0]["level_targets"]["school"] = 0.6
    data["versions"][1]["effective_from"] = "2020-01-01"
    with pytest.raises(RequirementsInvalid) as refused:
        parse_book(data)
    assert translate(str(refused.value), "zh") == (
        "学分要求无效：\n"
        "- 第 1 版：level_targets：各级占比合计 110%，不是 100%\n"
        "- versions：每一版的生效日期必须晚于前一版"
    )
