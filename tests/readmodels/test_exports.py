"""Exports: CSV that Excel opens (BOM, IDs kept as text, no formulas), XLSX with the same rows."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cohortflow.domain import national_id
from cohortflow.domain.events import CandidateNominated
from cohortflow.readmodels.exports import COLUMNS, TITLES, ExportKind, cell_value, csv_chunks, export_rows, write_xlsx
from cohortflow.readmodels.projector import Projector
from cohortflow.readmodels.queries import iter_people
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from tests.readmodels import projected

HOSTILE = '=HYPERLINK("http://evil","点我")'


@pytest.fixture(scope="module")
async def store(postgres: EmbeddedPostgres) -> AsyncIterator[EventStore]:
    async with projected(postgres, ("spring", 51)) as store:
        # A nominee whose name is a spreadsheet formula, as a careless (or hostile) upload could carry.
        event = CandidateNominated(
            participant_id="P900001",
            person_key="k",
            name=HOSTILE,
            national_id="11010519491231002X",
            gender="F",
            prefecture_code="430100",
            school="-1+1",
            role="校长\x07",
        )
        await store.append("cohort-spring", [NewEvent(event.TYPE, event.payload())], idempotency_key="hostile")
        await Projector(store).catch_up()
        yield store


async def csv_text(store: EventStore, kind: ExportKind, *, mask_ids: bool, prefecture: str | None = None) -> str:
    rows = export_rows(store.pool, kind, "spring", prefecture)
    raw = b"".join([c async for c in csv_chunks(rows, COLUMNS[kind], mask_ids=mask_ids)])
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads a BOM-less CSV as GBK
    return raw.decode("utf-8-sig")


@pytest.mark.parametrize("kind", ["nominees", "selected", "completed", "credits"])
async def test_csv_has_chinese_headers_masked_ids_and_one_line_per_row(store: EventStore, kind: ExportKind) -> None:
    rows = list(csv.reader(io.StringIO(await csv_text(store, kind, mask_ids=True))))
    assert rows[0] == [c.header for c in COLUMNS[kind]]
    expected = [r async for r in export_rows(store.pool, kind, "spring")]
    assert len(rows) - 1 == len(expected) > 0
    ids = rows[0].index("身份证号")
    for line, source in zip(rows[1:], expected, strict=True):
        values = source.model_dump()
        assert line[ids] == national_id.mask(values["national_id"]) and "*" in line[ids]
        assert line[0] == values["participant_id"]


async def test_unmasked_ids_stay_text_and_formulas_stay_text(store: EventStore) -> None:
    rows = list(csv.reader(io.StringIO(await csv_text(store, "nominees", mask_ids=False))))
    header, body = rows[0], rows[1:]
    hostile = next(r for r in body if r[0] == "P900001")
    assert hostile[header.index("姓名")] == "'" + HOSTILE
    assert hostile[header.index("学校")] == "'-1+1"
    assert hostile[header.index("身份证号")] == "11010519491231002X"  # the X already makes it text
    assert hostile[header.index("性别")] == "女"
    ids = [r[header.index("身份证号")] for r in body]
    digits = [i for i in ids if not i.endswith("X")]
    assert digits and all(i[0] == "\t" and len(i) == 19 and i[1:].isdigit() for i in digits)  # not 1.10105E+17


async def test_a_scoped_export_holds_only_that_prefecture(store: EventStore) -> None:
    rows = list(csv.reader(io.StringIO(await csv_text(store, "selected", mask_ids=True, prefecture="430100"))))
    codes = {r[rows[0].index("市州代码")] for r in rows[1:]}
    assert codes == {"430100"}


@pytest.mark.parametrize("kind", ["selected", "credits"])
async def test_xlsx_reads_back_with_the_rows_of_the_export(store: EventStore, kind: ExportKind, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.xlsx"
    progress: list[int] = []
    count = await write_xlsx(
        export_rows(store.pool, kind, "spring"),
        COLUMNS[kind],
        path,
        mask_ids=True,
        title=TITLES[kind],
        on_progress=progress.append,
    )
    expected = [r async for r in export_rows(store.pool, kind, "spring")]
    assert count == len(expected) and progress[-1] == count
    book = load_workbook(path, read_only=True)
    sheet = book[TITLES[kind]]
    got = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert got[0] == [c.header for c in COLUMNS[kind]]
    cells = [[cell_value(r, c, mask_ids=True) for c in COLUMNS[kind]] for r in expected]
    assert got[1:] == [[None if v == "" else v for v in row] for row in cells]  # an empty cell reads as None
    book.close()


async def test_xlsx_keeps_a_formula_looking_name_as_text(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "nominees.xlsx"
    await write_xlsx(export_rows(store.pool, "nominees", "spring"), COLUMNS["nominees"], path, mask_ids=False)
    sheet = load_workbook(path)["export"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "P900001")
    name = row[header.index("姓名")]
    assert (name.value, name.data_type) == (HOSTILE, "s")
    assert row[header.index("职务")].value == "校长"  # the control character is dropped, not the file
    assert row[header.index("身份证号")].value == "11010519491231002X"


async def test_progress_is_reported_while_streaming(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cohortflow.readmodels.exports.PROGRESS_EVERY", 10)
    monkeypatch.setattr("cohortflow.readmodels.exports.CHUNK_ROWS", 25)
    seen: list[int] = []
    rows = iter_people(store.pool, "spring", "nominees")
    chunks = [c async for c in csv_chunks(rows, COLUMNS["nominees"], mask_ids=True, on_progress=seen.append)]
    total = seen[-1]
    assert seen[:-1] == list(range(10, total + 1, 10)) and len(chunks) == total // 25 + 1
