"""Typed rows from an import file's normalised rows: conversion of form only.

Whether a value makes sense for the programme (check digit, known prefecture,
quotas, ranges, known participants) is for the domain to say. Here a row fails
only when a value has the wrong form, and each problem names the row and the
column, so an administrator can fix every one in a single pass over the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import TypeVar, get_args

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.blocks.intake import ITEM_SEPARATOR, Intake, SubmissionRow
from cohortflow.domain.blocks.placement import SchoolLevel
from cohortflow.domain.credit_bank.credits import TrainingKind
from cohortflow.domain.credit_bank.people import POST_NAMES
from cohortflow.domain.credit_bank.registry import CreditRow, PersonRow, ReversalRow
from cohortflow.domain.nomination import NomineeRow
from cohortflow.domain.phrases import phrase
from cohortflow.domain.records import AttendanceRow, DeliverableRow, ReturnReportRow, StudyRow, SurveyRow
from cohortflow.domain.rotation_plan import RosterRow
from cohortflow.imports.columns import TableKind, column_of
from cohortflow.imports.reading import SourceRow, Table

TypedRow = (
    NomineeRow
    | StudyRow
    | DeliverableRow
    | AttendanceRow
    | ReturnReportRow
    | SurveyRow
    | RosterRow
    | SubmissionRow
    | PersonRow
    | CreditRow
    | ReversalRow
)

# Plain decimals only: float() would also take "nan", "inf", "1e3" and "1_000", which no office means as hours.
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# Spreadsheets turn whole numbers into "3.0" on export.
_WHOLE = re.compile(r"([+-]?\d+)(\.0*)?")
# Deliberately loose: the mail server is the judge of an address; this catches a name or a phone number typed in.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?\d{7,15}")
_LOCALES = {"zh": "zh", "中文": "zh", "chinese": "zh", "en": "en", "英文": "en", "english": "en"}
_GENDERS = {"m": "M", "male": "M", "男": "M", "f": "F", "female": "F", "女": "F"}
_LEVELS = {
    **{level: level for level in get_args(SchoolLevel)},
    "幼儿园": "kindergarten",
    "小学": "primary",
    "初中": "junior",
    "高中": "senior",
    "九年一贯制": "nine_year",
    "十二年一贯制": "twelve_year",
    "中职": "vocational",
    "职业学校": "vocational",
}


T = TypeVar("T")
_CREDIT_LEVELS: dict[str, CreditLevel] = {
    **{level: level for level in get_args(CreditLevel)},
    "省级": "province",
    "省": "province",
    "市级": "city",
    "市": "city",
    "区县级": "district",
    "县级": "district",
    "区县": "district",
    "校级": "school",
    "校本": "school",
}
_TRAINING_KINDS: dict[str, TrainingKind] = {
    **{kind: kind for kind in get_args(TrainingKind)},
    "任职资格": "qualification",
    "资格培训": "qualification",
    "提高培训": "improvement",
    "高级研修": "advanced",
    "专题培训": "thematic",
    "校本研修": "school_based",
    "校外学习": "external",
}
_YES = {"yes", "y", "true", "1", "是"}
_NO = {"no", "n", "false", "0", "否", ""}
# ISO dates, and the slashes and dots of Chinese spreadsheets (2024/9/1, 2024.9.1); a date cell reads as ISO.
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00)?)?")


class _Cells:
    """One row's values, read column by column, collecting every problem of form."""

    def __init__(self, kind: TableKind, source: SourceRow) -> None:
        self.kind = kind
        self.row = source.row
        self.values = source.values
        self.problems: list[str] = []

    def text(self, column: str) -> str:
        value = self.values[column]
        spec = column_of(self.kind, column)
        if not value and spec.required:
            self._problem(column, phrase("is empty"))
        limit = spec.max_length
        if len(value) > limit:
            self._problem(
                column,
                phrase(
                    "is {length} characters long; at most {limit} are accepted",
                    length=f"{len(value):,}",
                    limit=f"{limit:,}",
                ),
            )
            return value[:limit]
        return value

    def decimal(self, column: str) -> float:
        value = self.text(column)
        if _DECIMAL.fullmatch(value):
            return float(value)
        if value:
            self._problem(column, phrase("{value} is not a number; write it like 12 or 12.5", value=repr(value)))
        return 0.0

    def whole(self, column: str) -> int:
        value = self.text(column)
        match = _WHOLE.fullmatch(value)
        if match:
            return int(match[1])
        if value:
            self._problem(column, phrase("{value} is not a whole number", value=repr(value)))
        return 0

    def gender(self, column: str) -> str:
        value = self.text(column)
        gender = _GENDERS.get(value.casefold())
        if gender is None and value:
            self._problem(column, phrase("{value} must be M or F (男/女)", value=repr(value)))
        return gender or value

    def email(self, column: str) -> str | None:
        value = self.text(column)
        if value and not _EMAIL.fullmatch(value):
            self._problem(column, phrase("{value} is not an email address", value=repr(value)))
        return value or None

    def phone(self, column: str) -> str | None:
        value = self.text(column).replace(" ", "").replace("-", "")
        if value and not _PHONE.fullmatch(value):
            self._problem(
                column, phrase("{value} is not a phone number (7 to 15 digits, + allowed in front)", value=repr(value))
            )
        return value or None

    def locale(self, column: str) -> str:
        value = self.text(column)
        locale = _LOCALES.get(value.casefold())
        if locale is None and value:
            self._problem(column, phrase("{value} must be zh or en (中文/英文)", value=repr(value)))
        return locale or "zh"

    def school_level(self, column: str) -> str | None:
        value = self.text(column)
        level = _LEVELS.get(value.casefold())
        if level is None and value:
            self._problem(
                column,
                phrase(
                    "{value} is not a school level ({levels}, or 小学, 初中…)",
                    value=repr(value),
                    levels=", ".join(get_args(SchoolLevel)),
                ),
            )
        return level

    def day(self, column: str) -> date | None:
        value = self.text(column)
        match = _DATE.fullmatch(value)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                pass
        if value:
            self._problem(column, phrase("{value} is not a date; write it like 2024-09-01", value=repr(value)))
        return None

    def choice(self, column: str, names: Mapping[str, T], default: T | None = None) -> T | None:
        value = self.text(column)
        found = names.get(value.casefold(), default if not value else None)
        if found is None and value:
            self._problem(
                column, phrase("{value} is not one of {names}", value=repr(value), names=", ".join(sorted(set(names))))
            )
        return found

    def flag(self, column: str) -> bool:
        value = self.text(column).casefold()
        if value not in _YES | _NO:
            self._problem(column, phrase("{value} must be yes or no (是/否)", value=repr(value)))
        return value in _YES

    def national_id(self, column: str) -> str:
        value = self.text(column)
        return value[:-1] + "X" if value.endswith("x") else value

    def _problem(self, column: str, reason: str) -> None:
        self.problems.append(phrase("row {row}, {column}: {reason}", row=self.row, column=column, reason=reason))


def _nominee(c: _Cells) -> NomineeRow:
    return NomineeRow(
        row=c.row,
        participant_id=c.text("participant_id"),
        name=c.text("name"),
        national_id=c.national_id("national_id"),
        gender=c.gender("gender"),
        prefecture_code=c.text("prefecture_code"),
        school=c.text("school"),
        role=c.text("role"),
        email=c.email("email"),
        phone=c.phone("phone"),
        locale=c.locale("locale"),
        track=c.text("track"),
        school_level=c.school_level("school_level"),
    )


def _study(c: _Cells) -> StudyRow:
    return StudyRow(row=c.row, participant_id=c.text("participant_id"), hours=c.decimal("hours"))


def _deliverable(c: _Cells) -> DeliverableRow:
    return DeliverableRow(row=c.row, participant_id=c.text("participant_id"), deliverable=c.text("deliverable"))


def _attendance(c: _Cells) -> AttendanceRow:
    return AttendanceRow(row=c.row, participant_id=c.text("participant_id"), days_present=c.whole("days_present"))


def _return_report(c: _Cells) -> ReturnReportRow:
    return ReturnReportRow(row=c.row, participant_id=c.text("participant_id"))


def _roster(c: _Cells) -> RosterRow:
    return RosterRow(
        row=c.row,
        name=c.text("name"),
        national_id=c.national_id("national_id"),
        prefecture_code=c.text("prefecture_code"),
        school=c.text("school"),
    )


def _survey(c: _Cells) -> SurveyRow:
    return SurveyRow(
        row=c.row,
        participant_id=c.text("participant_id"),
        survey=c.text("survey"),
        satisfaction=c.whole("satisfaction"),
    )


def _person(c: _Cells) -> PersonRow:
    return PersonRow(
        row=c.row,
        name=c.text("name"),
        national_id=c.national_id("national_id"),
        post=c.choice("post", POST_NAMES) or "teacher",
        took_post_on=c.day("took_post_on"),
        school=c.text("school"),
        county_code=c.text("county_code"),
        prefecture_code=c.text("prefecture_code"),
        school_level=c.school_level("school_level"),
        subject=c.text("subject"),
    )


def _credit(c: _Cells) -> CreditRow:
    return CreditRow(
        row=c.row,
        national_id=c.national_id("national_id"),
        name=c.text("name"),
        title=c.text("title"),
        hours=c.decimal("hours"),
        level=c.choice("level", _CREDIT_LEVELS) or "school",
        kind=c.choice("kind", _TRAINING_KINDS, default="school_based") or "school_based",
        earned_on=c.day("earned_on") or date.min,
        days=c.whole("days") if c.text("days") else 1,
        off_the_job=c.flag("off_the_job"),
    )


def _reversal(c: _Cells) -> ReversalRow:
    return ReversalRow(
        row=c.row,
        national_id=c.national_id("national_id"),
        name=c.text("name"),
        entry_id=c.text("entry_id"),
        cohort_id=c.text("cohort_id"),
        reason=c.text("reason"),
        approver=c.text("approver"),
    )


_CONVERT: dict[TableKind, Callable[[_Cells], TypedRow]] = {
    "nominees": _nominee,
    "study_records": _study,
    "deliverables": _deliverable,
    "attendance": _attendance,
    "return_reports": _return_report,
    "roster": _roster,
    "follow_up": _survey,
    "people": _person,
    "bank_credits": _credit,
    "bank_reversals": _reversal,
}


def typed_row(kind: TableKind, source: SourceRow) -> tuple[TypedRow | None, list[str]]:
    """The typed row of ``kind``, or None with every problem of the row: its structure's, else its values'."""
    if source.problems:
        return None, list(source.problems)
    cells = _Cells(kind, source)
    typed = _CONVERT[kind](cells)
    return (None, cells.problems) if cells.problems else (typed, [])


def submission_row(intake: Intake, source: SourceRow) -> tuple[SubmissionRow | None, list[str]]:
    """A row of a block template's import as a block record, or None with every problem of its form."""
    if source.problems:
        return None, list(source.problems)
    c = _Cells(intake.kind, source)
    number = None
    if intake.number is not None:
        number = float(c.whole(intake.number)) if intake.whole else c.decimal(intake.number)
    row = SubmissionRow(
        row=c.row,
        participant_id="" if intake.anonymous else c.text("participant_id"),
        item=ITEM_SEPARATOR.join(v for v in (c.text(col).strip() for col in intake.item) if v),
        number=number,
        text=c.text(intake.text).strip() if intake.text else "",
    )
    return (None, c.problems) if c.problems else (row, [])


def typed_rows(table: Table) -> Iterator[tuple[int, TypedRow | None, list[str]]]:
    """(row number, typed row or None, problems) for each data row of ``table``, streamed."""
    for source in table.rows():
        typed, problems = typed_row(table.kind, source)
        yield source.row, typed, problems
