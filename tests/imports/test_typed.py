"""Typed rows: conversion of form, and a problem per bad value naming its row and column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohortflow.domain.blocks.intake import SubmissionRow
from cohortflow.domain.blocks.registry import Block
from cohortflow.domain.nomination import NomineeRow
from cohortflow.domain.records import AttendanceRow, DeliverableRow, ReturnReportRow, StudyRow, SurveyRow
from cohortflow.domain.rotation_plan import RosterRow
from cohortflow.domain.vocabulary import ImportKind
from cohortflow.imports.columns import COLUMNS, BankKind, TableKind
from cohortflow.imports.reading import SourceRow, open_table
from cohortflow.imports.typed import TypedRow, submission_row, typed_row, typed_rows

GOOD: dict[TableKind, dict[str, str]] = {
    "nominees": {
        "participant_id": "P1",
        "name": "张伟",
        "national_id": "11010119900307457x",
        "gender": "男",
        "prefecture_code": "5101",
        "school": "",
        "role": "",
        "email": "",
        "phone": "",
        "locale": "",
        "track": "",
        "school_level": "",
    },
    "study_records": {"participant_id": "P1", "hours": "12.50"},
    "deliverables": {"participant_id": "P1", "deliverable": "D1"},
    "attendance": {"participant_id": "P1", "days_present": "3.0"},
    "return_reports": {"participant_id": "P1"},
    "roster": {"name": "张伟", "national_id": "11010119900307457x", "prefecture_code": "430102", "school": ""},
    "follow_up": {"participant_id": "P1", "survey": "S1", "satisfaction": "4"},
}


def convert(kind: TableKind, **values: str) -> tuple[TypedRow | None, list[str]]:
    return typed_row(kind, SourceRow(7, GOOD[kind] | values))


def problem(kind: TableKind, **values: str) -> str:
    typed, problems = convert(kind, **values)
    assert typed is None
    (only,) = problems
    return only


def test_good_rows_of_every_kind_convert() -> None:
    assert [convert(kind) for kind in GOOD] == [
        (NomineeRow(7, "P1", "张伟", "11010119900307457X", "M", "5101", "", ""), []),
        (StudyRow(7, "P1", 12.5), []),
        (DeliverableRow(7, "P1", "D1"), []),
        (AttendanceRow(7, "P1", 3), []),
        (ReturnReportRow(7, "P1"), []),
        (RosterRow(7, "张伟", "11010119900307457X", "430102"), []),
        (SurveyRow(7, "P1", "S1", 4), []),
    ]


@pytest.mark.parametrize(
    ("kind", "column"),
    [(kind, c.name) for kind in GOOD for c in COLUMNS[kind] if c.required],
)
def test_an_empty_required_value_is_a_problem(kind: TableKind, column: str) -> None:
    assert problem(kind, **{column: ""}) == f"row 7, {column}: is empty"


# Every import kind a block takes, read as generic block records.
INTAKES = {i.kind: i for block in get_args(get_args(Block)[0]) for i in block.INTAKES if i.kind != "nominees"}
CELLS = {
    "participant_id": "P1",
    "hours": "12.5",
    "deliverable": "D1",
    "days_present": "3.0",
    "site": "CS",
    "batch": "B1",
    "survey": "S1",
    "satisfaction": "4",
    "group": "G1",
    "leader": "是",
    "host": "H1",
    "mentor": "王老师",
    "task": "observe",
    "count": "12",
    "summary": "听课记录",
    "date": "2027-03-01",
    "entry": "听课两节",
    "score": "88.5",
    "title": "汇报",
    "round": "r1",
    "assessor": "panel",
    "comment": "很好",
}


def test_every_kind_a_block_takes_is_read_as_records() -> None:
    assert sorted(INTAKES) == sorted(k for k in COLUMNS if k not in ("nominees", "roster", *get_args(BankKind)))
    rows = {
        kind: submission_row(i, SourceRow(7, {c.name: CELLS[c.name] for c in COLUMNS[kind]}))
        for kind, i in INTAKES.items()
    }
    assert all(problems == [] for _, problems in rows.values()), rows
    assert rows["attendance"][0] == SubmissionRow(7, "P1", "CS/B1", 3.0, "")
    assert rows["tasks"][0] == SubmissionRow(7, "P1", "observe", 12.0, "听课记录")
    assert rows["evaluation_scores"][0] == SubmissionRow(7, "P1", "r1/panel", 88.5, "")
    assert rows["satisfaction"][0] == SubmissionRow(7, "", "", 4.0, "很好")


@pytest.mark.parametrize(
    ("kind", "column"),
    [(kind, c.name) for kind in INTAKES for c in COLUMNS[kind] if c.required],
)
def test_an_empty_required_value_of_a_block_record_is_a_problem(kind: ImportKind, column: str) -> None:
    values = {c.name: CELLS[c.name] for c in COLUMNS[kind]} | {column: ""}
    assert submission_row(INTAKES[kind], SourceRow(7, values)) == (None, [f"row 7, {column}: is empty"])


def test_a_count_must_be_whole() -> None:
    values = {c.name: CELLS[c.name] for c in COLUMNS["tasks"]} | {"count": "2.5"}
    assert submission_row(INTAKES["tasks"], SourceRow(7, values)) == (
        None,
        ["row 7, count: '2.5' is not a whole number"],
    )


def test_empty_optional_values_are_fine() -> None:
    typed, problems = convert("nominees", school="", role="")
    assert isinstance(typed, NomineeRow) and problems == []


def test_contact_details_are_read() -> None:
    typed, problems = convert("nominees", email="zhang.wei@example.org", phone="+86 138-0000-0001", locale="英文")
    assert problems == []
    assert isinstance(typed, NomineeRow)
    assert (typed.email, typed.phone, typed.locale) == ("zhang.wei@example.org", "+8613800000001", "en")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("email", "张伟", "'张伟' is not an email address"),
        ("email", "a@b", "'a@b' is not an email address"),
        ("phone", "13800", "'13800' is not a phone number (7 to 15 digits, + allowed in front)"),
        ("phone", "call me", "'callme' is not a phone number (7 to 15 digits, + allowed in front)"),
        ("locale", "fr", "'fr' must be zh or en (中文/英文)"),
    ],
)
def test_bad_contact_details_are_problems(column: str, value: str, reason: str) -> None:
    assert problem("nominees", **{column: value}) == f"row 7, {column}: {reason}"


def test_every_problem_of_a_row_is_reported() -> None:
    assert convert("nominees", name="", gender="x", participant_id="") == (
        None,
        ["row 7, participant_id: is empty", "row 7, name: is empty", "row 7, gender: 'x' must be M or F (男/女)"],
    )


@pytest.mark.parametrize(
    ("given", "gender"),
    [("M", "M"), ("m", "M"), ("男", "M"), ("Male", "M"), ("F", "F"), ("f", "F"), ("女", "F"), ("FEMALE", "F")],
)
def test_gender_is_read_as_m_or_f(given: str, gender: str) -> None:
    typed, _ = convert("nominees", gender=given)
    assert isinstance(typed, NomineeRow) and typed.gender == gender


@pytest.mark.parametrize("given", ["x", "1", "男性", "MF"])
def test_other_genders_are_problems(given: str) -> None:
    assert problem("nominees", gender=given) == f"row 7, gender: {given!r} must be M or F (男/女)"


@pytest.mark.parametrize(
    ("given", "stored"),
    [("11010119900307457x", "11010119900307457X"), ("110101199003074578", "110101199003074578"), ("12x3", "12x3")],
)
def test_national_id_check_character_is_upper_case(given: str, stored: str) -> None:
    typed, _ = convert("nominees", national_id=given)
    assert isinstance(typed, NomineeRow) and typed.national_id == stored


@pytest.mark.parametrize(("given", "hours"), [("12.5", 12.5), ("12", 12.0), ("12.50", 12.5), (".5", 0.5), ("-1", -1.0)])
def test_hours_are_decimal_numbers(given: str, hours: float) -> None:
    assert convert("study_records", hours=given) == (StudyRow(7, "P1", hours), [])


@pytest.mark.parametrize("given", ["abc", "nan", "inf", "-Infinity", "1e3", "1_000", "1,5", "12h", "."])
def test_other_hours_are_problems(given: str) -> None:
    assert problem("study_records", hours=given) == f"row 7, hours: {given!r} is not a number; write it like 12 or 12.5"


@given(st.decimals(min_value=-10_000, max_value=10_000, allow_nan=False, places=3))
def test_any_written_decimal_reads_as_its_value(value: Decimal) -> None:
    typed, _ = convert("study_records", hours=f"{value:f}")
    assert isinstance(typed, StudyRow) and typed.hours == float(value)


@pytest.mark.parametrize(
    ("kind", "column"),
    [("attendance", "days_present"), ("follow_up", "satisfaction")],
)
@pytest.mark.parametrize(("given", "number"), [("3", 3), ("3.0", 3), ("03", 3), ("-2", -2), ("12.", 12)])
def test_whole_numbers_may_be_written_as_decimals(kind: TableKind, column: str, given: str, number: int) -> None:
    typed, problems = convert(kind, **{column: given})
    assert problems == [] and getattr(typed, column) == number


@pytest.mark.parametrize(("kind", "column"), [("attendance", "days_present"), ("follow_up", "satisfaction")])
@pytest.mark.parametrize("given", ["3.5", "x", "3.01", "", "nan"])
def test_other_whole_numbers_are_problems(kind: TableKind, column: str, given: str) -> None:
    reason = "is empty" if not given else f"{given!r} is not a whole number"
    assert problem(kind, **{column: given}) == f"row 7, {column}: {reason}"


@given(st.integers(-(10**6), 10**6), st.sampled_from(["", ".0", ".00"]))
def test_any_written_whole_number_reads_as_itself(number: int, decimals: str) -> None:
    typed, _ = convert("attendance", days_present=f"{number}{decimals}")
    assert isinstance(typed, AttendanceRow) and typed.days_present == number


@given(st.text(max_size=100).filter(lambda s: s.casefold() not in {"m", "f", "male", "female", "男", "女", ""}))
def test_any_other_gender_text_is_a_problem_quoting_it(given: str) -> None:
    assert problem("nominees", gender=given) == f"row 7, gender: {given!r} must be M or F (男/女)"


def test_structural_problems_pass_through_without_a_typed_row() -> None:
    source = SourceRow(9, GOOD["study_records"], ("row 9: 3 cells, but the header has 2 columns",))
    assert typed_row("study_records", source) == (None, ["row 9: 3 cells, but the header has 2 columns"])


def test_typed_rows_streams_a_table_with_file_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_text("学员编号,出勤天数\nP1,３\n\nP2,2.5\nP3,4,x\n", encoding="utf-8")
    with open_table(path, "attendance") as table:
        assert list(typed_rows(table)) == [
            (2, AttendanceRow(2, "P1", 3), []),
            (4, None, ["row 4, days_present: '2.5' is not a whole number"]),
            (5, None, ["row 5: 3 cells, but the header has 2 columns"]),
        ]


@pytest.mark.parametrize(("kind", "column"), [(kind, c) for kind in GOOD for c in GOOD[kind]])
def test_a_value_longer_than_its_column_takes_is_a_problem_before_anything_is_recorded(
    kind: TableKind, column: str
) -> None:
    limit = next(c.max_length for c in COLUMNS[kind] if c.name == column)
    typed, problems = convert(kind, **{column: "9" * (limit + 1) + "x" * 20_000_000})
    assert typed is None
    assert problems[0] == f"row 7, {column}: is {limit + 20_000_001:,} characters long; at most {limit:,} are accepted"
    assert all(len(p) < 400 for p in problems)  # what is said of a row never carries the long value along
