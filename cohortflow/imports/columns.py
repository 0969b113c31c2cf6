"""The columns of each kind of import file: canonical names, which are required, and accepted header names.

Offices name their columns in English or Chinese and spell them loosely, so a
header cell matches a column by any of its names, compared by ``header_key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from cohortflow.domain.events import ImportKind

SHORT_TEXT = 100
"""The longest value a column takes unless it says otherwise: codes, ids, names, numbers."""
LONG_TEXT = 32_767
"""Free text (a task's summary, a log entry, a comment): as long as an Excel cell holds."""


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    max_length: int = SHORT_TEXT
    """Longer values are refused with the row, before anything is recorded: the store keeps every value for good."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


_PARTICIPANT = Column("participant_id", ("学员编号", "编号", "id"))

BankKind = Literal["people", "bank_credits", "bank_reversals"]
"""The credit bank's files: its registry of people, credits recorded outside cohorts, and reversals of entries."""
TableKind = ImportKind | Literal["roster"] | BankKind
"""What a file holds: a cohort's import, a rotation plan's roster of eligible people, or a credit bank file."""

_PERSON = (
    Column("name", ("姓名",)),
    Column("national_id", ("身份证号", "身份证号码", "居民身份证号", "id_number")),
)

COLUMNS: dict[TableKind, tuple[Column, ...]] = {
    "nominees": (
        _PARTICIPANT,
        *_PERSON,
        Column("gender", ("性别", "sex")),
        Column("prefecture_code", ("市州代码", "行政区划代码", "市州")),
        Column("school", ("学校", "单位", "工作单位"), required=False, max_length=200),
        Column("role", ("职务", "职位"), required=False),
        Column("email", ("邮箱", "电子邮箱", "e-mail"), required=False, max_length=254),
        Column("phone", ("手机", "手机号", "手机号码", "mobile"), required=False),
        Column("locale", ("语言", "language"), required=False),
        Column("track", ("培训类别", "类别", "项目类别", "track_code"), required=False),
        Column("school_level", ("学段", "学校类型", "level"), required=False),
    ),
    "study_records": (_PARTICIPANT, Column("hours", ("学时", "研修学时", "时长"))),
    "deliverables": (_PARTICIPANT, Column("deliverable", ("成果", "成果代码", "deliverable_code"))),
    "attendance": (
        _PARTICIPANT,
        Column("days_present", ("出勤天数", "days")),
        Column("site", ("基地", "研修基地", "site_code"), required=False),
        Column("batch", ("批次", "batch_code"), required=False),
    ),
    "return_reports": (_PARTICIPANT,),
    "roster": (
        *_PERSON,
        Column("prefecture_code", ("市州代码", "区县代码", "行政区划代码", "市州", "区县")),
        Column("school", ("学校", "单位", "工作单位"), required=False, max_length=200),
    ),
    "follow_up": (
        _PARTICIPANT,
        Column("survey", ("问卷", "问卷代码", "survey_code")),
        Column("satisfaction", ("满意度", "score")),
    ),
    "groups": (
        _PARTICIPANT,
        Column("group", ("小组", "组别", "group_code")),
        Column("leader", ("组长", "is_leader"), required=False),
    ),
    "placements": (_PARTICIPANT, Column("host", ("跟岗学校", "基地学校", "host_code"))),
    "mentors": (_PARTICIPANT, Column("mentor", ("导师", "指导教师", "mentor_name"))),
    "tasks": (
        _PARTICIPANT,
        Column("task", ("任务", "任务代码", "task_code")),
        Column("count", ("完成数量", "数量", "done")),
        Column("summary", ("内容", "摘要", "text"), required=False, max_length=LONG_TEXT),
    ),
    "daily_log": (
        _PARTICIPANT,
        Column("date", ("日期", "log_date")),
        Column("entry", ("日志", "内容", "text"), max_length=LONG_TEXT),
    ),
    "host_assessment": (_PARTICIPANT, Column("score", ("评分", "得分", "考核得分"))),
    "home_report": (_PARTICIPANT, Column("title", ("标题", "报告标题"), required=False, max_length=200)),
    "evaluation_scores": (
        _PARTICIPANT,
        Column("round", ("轮次", "考核轮次", "round_code")),
        Column("assessor", ("评委", "考核人", "评价主体")),
        Column("score", ("评分", "得分")),
    ),
    "people": (
        *_PERSON,
        Column("post", ("职务", "岗位", "职位")),
        Column("took_post_on", ("任职时间", "任职日期", "上岗时间"), required=False),
        Column("school", ("学校", "单位", "工作单位"), max_length=200),
        Column("county_code", ("区县代码", "区县")),
        Column("prefecture_code", ("市州代码", "行政区划代码", "市州")),
        Column("school_level", ("学段", "学校类型", "level"), required=False),
        Column("subject", ("学科", "任教学科"), required=False),
    ),
    "bank_credits": (
        Column("national_id", ("身份证号", "身份证号码", "居民身份证号", "id_number")),
        Column("name", ("姓名",), required=False),
        Column("title", ("培训名称", "项目名称", "名称"), max_length=200),
        Column("hours", ("学时", "培训学时")),
        Column("level", ("级别", "学分级别", "层级")),
        Column("kind", ("培训类别", "类别", "类型"), required=False),
        Column("earned_on", ("结束日期", "培训日期", "日期", "date")),
        Column("days", ("天数", "培训天数"), required=False),
        Column("off_the_job", ("脱产", "是否脱产"), required=False),
    ),
    "bank_reversals": (
        Column("national_id", ("身份证号", "身份证号码", "居民身份证号", "id_number")),
        Column("name", ("姓名",), required=False),
        Column("entry_id", ("条目编号", "学时条目编号", "entry")),
        Column("cohort_id", ("培训班编号", "班级编号", "cohort"), required=False),
        Column("reason", ("冲销原因", "原因"), max_length=500),
        Column("approver", ("审核人", "锁定人"), required=False),
    ),
    "satisfaction": (
        Column("satisfaction", ("满意度", "score")),
        Column("comment", ("意见", "建议", "意见建议"), required=False, max_length=LONG_TEXT),
    ),
}

_SEPARATORS = re.compile(r"[\s_-]+")


def header_key(text: str) -> str:
    """How header names are compared: case-insensitive, with spaces and hyphens counting as underscores."""
    return _SEPARATORS.sub("_", text.casefold()).strip("_")


def column_by_key(kind: TableKind) -> dict[str, str]:
    """Every accepted header name of ``kind``, by its ``header_key``, mapped to the canonical column name."""
    return {header_key(name): column.name for column in COLUMNS[kind] for name in column.names}


def is_known_name(text: str) -> bool:
    """Whether ``text`` names a column of any kind; a header row names at least one."""
    return any(header_key(text) in column_by_key(kind) for kind in COLUMNS)


@cache
def column_of(kind: TableKind, name: str) -> Column:
    """The column of ``kind`` named ``name`` (its canonical name); asked for every cell, so looked up once."""
    return next(c for c in COLUMNS[kind] if c.name == name)


def accepted_names(kind: TableKind) -> str:
    """The column names of ``kind`` as an administrator should read them in an error message."""

    def describe(column: Column) -> str:
        optional = "" if column.required else ", optional"
        return f"{column.name} (or {', '.join(column.aliases)}{optional})"

    return "; ".join(describe(column) for column in COLUMNS[kind])
