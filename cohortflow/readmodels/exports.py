"""Exports for the provincial office: nominees, selected, completed and credits, as CSV or XLSX.

Both formats stream: rows come from a server-side cursor and go out as they
arrive (CSV in chunks, XLSX through openpyxl's write-only mode, which spills
rows to a temporary file), so a 50,000-row export runs in flat memory.

Headers are Chinese, keys English. CSV starts with a UTF-8 byte-order mark,
without which Excel reads it as GBK and garbles every name.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from pydantic import BaseModel

from cohortflow.domain import national_id
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.credits import iter_credit_rows
from cohortflow.readmodels.queries import Pool, iter_people

ExportKind = Literal["nominees", "selected", "completed", "credits"]
ColumnKind = Literal["text", "national_id", "number", "bool", "gender", "list", "datetime", "phase", "level"]
Value = str | int | float
BOM = "\ufeff"
CHUNK_ROWS = 500
PROGRESS_EVERY = 1_000
_PHASES = {
    "nomination": "推荐",
    "online_study": "网络研修",
    "selection": "遴选",
    "field_study": "跟岗实践",
    "return_to_post": "返岗实践",
    "follow_up": "跟踪指导",
    "completion": "结业",
}
_LEVELS = {"province": "省级", "city": "市级", "district": "区县级", "school": "校级"}
_GENDERS = {"M": "男", "F": "女"}
# Spreadsheets run cells starting with these as formulas; a name is not a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: ColumnKind = "text"


_PERSON = (
    Column("participant_id", "学员编号"),
    Column("name", "姓名"),
    Column("national_id", "身份证号", "national_id"),
    Column("gender", "性别", "gender"),
    Column("prefecture_code", "市州代码"),
    Column("school", "学校"),
    Column("role", "职务"),
)
COLUMNS: dict[ExportKind, tuple[Column, ...]] = {
    "nominees": (
        *_PERSON,
        Column("hours", "网络研修学时", "number"),
        Column("deliverables", "提交成果", "list"),
        Column("met_online_requirement", "网络研修达标", "bool"),
        Column("selected", "入选", "bool"),
        Column("waiting_list", "候补", "bool"),
        Column("withdrawn", "已退出", "bool"),
    ),
    "selected": (
        *_PERSON,
        Column("hours", "网络研修学时", "number"),
        Column("site", "跟岗基地"),
        Column("batch", "批次"),
        Column("days_present", "出勤天数", "number"),
        Column("days_total", "应出勤天数", "number"),
        Column("attended_field_study", "跟岗达标", "bool"),
        Column("return_report", "返岗报告", "bool"),
    ),
    "completed": (
        *_PERSON,
        Column("hours", "网络研修学时", "number"),
        Column("site", "跟岗基地"),
        Column("surveys_answered", "已答问卷", "list"),
        Column("credit_hours", "获得学时", "number"),
    ),
    "credits": (
        Column("participant_id", "学员编号"),
        Column("name", "姓名"),
        Column("national_id", "身份证号", "national_id"),
        Column("prefecture_code", "市州代码"),
        Column("entry_id", "条目编号"),
        Column("phase", "阶段", "phase"),
        Column("level", "认定级别", "level"),
        Column("hours", "学时", "number"),
        Column("earned_by", "依据事件", "list"),
        Column("reverses", "冲销条目"),
        Column("reason", "冲销原因"),
        Column("recorded_at", "记录时间", "datetime"),
    ),
}
TITLES: dict[ExportKind, str] = {
    "nominees": "推荐名单",
    "selected": "遴选名单",
    "completed": "结业名单",
    "credits": "学时",
}


def export_rows(
    pool: Pool, kind: ExportKind, cohort_id: str, prefecture: str | None = None
) -> AsyncIterator[BaseModel]:
    """The rows of export ``kind``, streamed from the read models."""
    if kind == "credits":
        return iter_credit_rows(pool, cohort_id, prefecture)
    return iter_people(pool, cohort_id, kind, prefecture)


def cell_value(row: BaseModel, column: Column, *, mask_ids: bool) -> Value:
    """What a cell shows: Chinese words for codes, masked ID numbers when asked, '' for nothing."""
    value = getattr(row, column.key)
    if value is None:
        return ""
    kind = column.kind
    if kind == "number":
        return float(value) if not isinstance(value, int | float) else value
    if kind == "bool":
        return "是" if value else "否"
    if kind == "national_id":
        return national_id.mask(str(value)) if mask_ids else str(value)
    if kind == "gender":
        return _GENDERS.get(value, str(value))
    if kind == "list":
        return "、".join(str(v) for v in value)
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "phase":
        return _PHASES.get(value, str(value))
    if kind == "level":
        return _LEVELS.get(value, str(value))
    return str(value)


def _csv_text(value: Value, column: Column) -> Value:
    if not isinstance(value, str) or not value:
        return value
    if column.kind == "national_id" and value.isdigit():
        return "\t" + value  # Excel would read 18 digits as a number and zero the last three
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


async def csv_chunks(
    rows: AsyncIterator[BaseModel],
    columns: tuple[Column, ...],
    *,
    mask_ids: bool,
    on_progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The export as UTF-8 CSV with a BOM, in chunks of a few hundred rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow([c.header for c in columns])
    count = 0
    async for row in rows:
        writer.writerow([_csv_text(cell_value(row, c, mask_ids=mask_ids), c) for c in columns])
        count += 1
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count)
    yield buffer.getvalue().encode()
    if on_progress is not None:
        on_progress(count)


async def write_xlsx(
    rows: AsyncIterator[BaseModel],
    columns: tuple[Column, ...],
    path: Path,
    *,
    mask_ids: bool,
    title: str = "export",
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``path`` as one sheet; returns the number of data rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append([c.header for c in columns])
    count = 0
    async for row in rows:
        sheet.append([_xlsx_cell(sheet, cell_value(row, c, mask_ids=mask_ids)) for c in columns])
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count)
    await asyncio.to_thread(workbook.save, path)
    if on_progress is not None:
        on_progress(count)
    return count


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Value) -> Value | Cell | None:
    if not isinstance(value, str):
        return value
    if not value:
        return None  # an empty cell, not an empty string
    value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters make openpyxl refuse the whole file
    if value.startswith("="):
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"  # openpyxl would store it as a formula
        return cell
    return value
