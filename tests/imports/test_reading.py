"""The streaming reader: formats, encodings, dirty cells, header problems and memory use."""

from __future__ import annotations

import codecs
import csv
import io
import string
import tempfile
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortflow.domain.events import ImportKind
from cohortflow.imports.columns import COLUMNS, Column
from cohortflow.imports.reading import FileRefused, SourceRow, detect_encoding, open_table
from cohortflow.imports.typed import typed_rows

Lines = list[list[str]]  # the cells of each line as written to the file, blank lines included


def _invalid_utf8_in_gb18030(surname: str) -> bool:
    """Whether the surname's GB18030 bytes are a UTF-8 lead byte without its continuation, wherever they stand."""
    lead, trail = surname.encode("gb18030")
    return 0xC2 <= lead <= 0xDF and not 0x80 <= trail <= 0xBF


SURNAMES = [s for s in "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗" if _invalid_utf8_in_gb18030(s)]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
PADDING = " \t\u3000\u00a0\u200b\ufeff"

word = st.text(alphabet=string.ascii_letters + string.digits + "-." + GIVEN, min_size=1, max_size=6)
clean_text = st.lists(word, max_size=3).flatmap(lambda ws: st.sampled_from([" ", "\n"]).map(lambda sep: sep.join(ws)))
chinese_name = st.builds(lambda s, g: s + g, st.sampled_from(SURNAMES), st.text(GIVEN, min_size=1, max_size=2))
blank_line = st.lists(st.sampled_from(["", "  ", "\u3000", "\u200b"]), max_size=4)


@st.composite
def dirty(draw: st.DrawFn, value: str) -> str:
    """``value`` as an office might type it: padded with stray spaces, perhaps in full-width characters."""
    if draw(st.booleans()):
        value = value.translate(FULL_WIDTH)
    return draw(st.text(PADDING, max_size=2)) + value + draw(st.text(PADDING, max_size=2))


@st.composite
def header_name(draw: st.DrawFn, column: Column) -> str:
    name = draw(st.sampled_from(column.names))
    if name.isascii():
        name = draw(st.sampled_from([name, name.upper(), name.title()]))
        name = name.replace("_", draw(st.sampled_from(["_", " ", "-"])))
    return draw(dirty(name))


@st.composite
def nominee_tables(draw: st.DrawFn) -> tuple[Lines, list[SourceRow], list[str]]:
    """A nominees table with blank lines among its rows, and the SourceRows and columns it must read as."""
    optional = [c for c in COLUMNS["nominees"] if not c.required and draw(st.booleans())]
    columns = draw(st.permutations([c for c in COLUMNS["nominees"] if c.required] + optional))
    lines: Lines = draw(st.lists(blank_line, max_size=2))
    lines.append([draw(header_name(c)) for c in columns])
    expected = []
    for _ in range(draw(st.integers(1, 6))):
        lines.extend(draw(st.lists(blank_line, max_size=2)))
        clean = {c.name: draw(chinese_name if c.name == "name" else clean_text) for c in columns}
        lines.append([draw(dirty(clean[c.name])) for c in columns])
        values = {c.name: clean.get(c.name, "") for c in COLUMNS["nominees"]}
        expected.append(SourceRow(len(lines), values))
    lines.extend(draw(st.lists(blank_line, max_size=2)))
    return lines, expected, [c.name for c in columns]


def csv_text(lines: Lines, delimiter: str = ",", line_end: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end)
    writer.writerows(lines)
    return out.getvalue()


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def read(path: Path, kind: ImportKind = "nominees") -> list[SourceRow]:
    with open_table(path, kind) as table:
        return list(table.rows())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nominee_tables(), st.sampled_from([",", "\t"]))
def test_every_format_encoding_and_line_ending_reads_the_same_rows(
    table: tuple[Lines, list[SourceRow], list[str]], delimiter: str
) -> None:
    lines, expected, columns = table
    with tempfile.TemporaryDirectory() as tmp:
        workbook = write_xlsx(Path(tmp) / "upload", [list(cells) for cells in lines])
        with open_table(workbook, "nominees") as xlsx:
            assert (xlsx.format, xlsx.encoding, xlsx.columns) == ("xlsx", None, columns)
            assert list(xlsx.rows()) == expected
        for encoding in ("utf-8", "utf-8-sig", "gb18030"):
            for line_end in ("\n", "\r\n"):
                data = csv_text(lines, delimiter, line_end).encode(encoding)
                # a first header cell typed with a stray BOM character reads as a BOM
                detected = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else encoding
                path = Path(tmp) / "upload"
                path.write_bytes(data)
                with open_table(path, "nominees") as text:
                    assert (text.format, text.encoding, text.columns) == ("csv", detected, columns)
                    assert list(text.rows()) == expected


def test_gb18030_names_are_not_utf8() -> None:
    assert len(SURNAMES) >= 5
    with pytest.raises(UnicodeDecodeError):
        ",".join(SURNAMES).encode("gb18030").decode("utf-8")


@pytest.mark.parametrize(
    "header",
    ["Participant ID", " PARTICIPANT-ID ", "participant__id", "ｐａｒｔｉｃｉｐａｎｔ＿ｉｄ", "学员编号", "ID"],
)
def test_header_names_match_loosely(tmp_path: Path, header: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{header},Hours\nP1,2\n", encoding="utf-8")
    assert read(path, "study_records") == [SourceRow(2, {"participant_id": "P1", "hours": "2"})]


def test_blank_lines_keep_the_row_numbers_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("\n\u3000\nparticipant_id,hours\n\n , \nP1,2\n,,\nP2,3\n\n", encoding="utf-8")
    assert [r.row for r in read(path, "study_records")] == [6, 8]


def refusal(tmp_path: Path, content: bytes, kind: ImportKind = "nominees") -> str:
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(FileRefused) as refused:
        open_table(path, kind)
    return str(refused.value)


def test_unknown_columns_are_named_with_the_accepted_names(tmp_path: Path) -> None:
    message = refusal(tmp_path, b"participant_id,hours,notes,Remark\n", "study_records")
    assert "unknown column(s) 'notes', 'Remark'" in message
    assert "participant_id (or 学员编号, 编号, id); hours (or 学时, 研修学时, 时长)" in message


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    message = refusal(tmp_path, "学员编号,姓名,学校\n".encode())
    assert "missing required column(s): national_id (or 身份证号" in message
    assert "gender (or 性别, sex)" in message
    assert "prefecture_code" in message
    assert "school" not in message.split("missing")[1]


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "participant_id,name,national_id,gender,prefecture_code,姓名\n".encode())
    assert "the name column is given more than once: 'name' in column B and '姓名' in column F" in message


def test_all_header_problems_are_listed_at_once(tmp_path: Path) -> None:
    message = refusal(tmp_path, "participant_id,name,姓名,notes\n".encode())
    assert message.startswith("The header row (row 1) has problems:")
    assert [line[:12] for line in message.splitlines()[1:]] == ["- unknown co", "- the name c", "- missing re"]


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n,,\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    assert refusal(tmp_path, content).startswith("The file is empty.")


def test_a_file_without_header_row_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "P1,张伟,110101199003074578,M,5101\n".encode())
    assert message.startswith("The file has no header row: row 1 ('P1', '张伟', ")


def test_an_empty_workbook_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, write_xlsx(tmp_path / "w", []).read_bytes()).startswith("The file is empty.")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"participant_id,hours\nP1,\x81\xff\n", "neither UTF-8 nor GB18030 text: line 2 (byte 24)"),
        (b"\xef\xbb\xbfparticipant_id,hours\nP1,\xd5\xc5\n", "starts as UTF-8 text but line 2 (byte 27) is not"),
        ("participant_id,hours\n".encode("utf-16"), "UTF-16 text"),
        (b"participant_id,hours\nP1,\x00\n", "binary data (a NUL byte at byte 24)"),
        (b"PK\x03\x04\x14\x00\x00\x00 not really a zip", "ZIP archive but not an Excel .xlsx workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Excel .xls workbook"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    assert reason in refusal(tmp_path, content, "study_records")


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "z", "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert "not an Excel .xlsx workbook" in refusal(tmp_path, (tmp_path / "z").read_bytes())


def test_an_unclosed_quote_is_refused_near_its_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'participant_id,hours\nP1,"2\n' + b"P2,3\n" * 40_000)
    with open_table(path, "study_records") as table, pytest.raises(FileRefused, match="near line"):
        list(table.rows())


def test_detect_encoding_tells_utf8_from_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for encoding in ("utf-8", "utf-8-sig", "gb18030"):
        path.write_bytes(("a" * 100_000 + "张伟\n").encode(encoding))
        assert detect_encoding(path) == encoding


def test_utf8_split_across_chunks_is_still_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(("a" * (64 * 1024 - 1) + "张").encode())
    assert detect_encoding(path) == "utf-8"


def test_workbook_cells_read_as_typed_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "w",
        [
            ["participant_id", "survey", "satisfaction"],
            [12.0, date(2024, 3, 1), 4],
            [20240001, datetime(2024, 3, 1, 8, 30), 4.5],
            ["P3", True, None],
        ],
    )
    assert [r.values for r in read(path, "follow_up")] == [
        {"participant_id": "12", "survey": "2024-03-01", "satisfaction": "4"},
        {"participant_id": "20240001", "survey": "2024-03-01T08:30:00", "satisfaction": "4.5"},
        {"participant_id": "P3", "survey": "true", "satisfaction": ""},
    ]


def test_a_number_longer_than_excel_keeps_is_a_problem(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "w", [["participant_id", "hours"], [110101199003074578.0, 2]])
    (row,) = read(path, "study_records")
    number = row.values["participant_id"]
    assert number.isdigit() and len(number) == 18
    assert row.problems == (
        f"row 2, participant_id: {number} was stored as a number of more than 15 digits, "
        "and Excel keeps only 15, so digits are lost; format the column as text and enter the values again",
    )


def test_rows_of_the_wrong_width_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("participant_id,hours,,\nP1,2,,\nP2\nP3,3,x,y\nP4,4,,,,\n", encoding="utf-8")
    assert [r.problems for r in read(path, "study_records")] == [
        (),
        ("row 3: 1 cell, but the header has 2 columns",),
        ("row 4: 4 cells, but the header has 2 columns",),
        (),
    ]


def test_a_workbook_row_may_leave_out_trailing_cells(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "w", [["participant_id", "survey", "satisfaction"], ["P1"]])
    assert read(path, "follow_up") == [SourceRow(2, {"participant_id": "P1", "survey": "", "satisfaction": ""})]


def test_a_value_under_an_unnamed_column_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("participant_id,,hours\nP1,,2\nP2,oops,3\n", encoding="utf-8")
    rows = read(path, "study_records")
    assert rows[0] == SourceRow(2, {"participant_id": "P1", "hours": "2"})
    assert rows[1].problems == ("row 3, column B: 'oops' is in a column with no header; delete it or name the column",)


def test_tab_separated_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("学员编号\t学时\nP1\t1,5\n", encoding="utf-8")
    assert read(path, "study_records") == [SourceRow(2, {"participant_id": "P1", "hours": "1,5"})]


@pytest.mark.parametrize("make", ["csv", "xlsx"])
def test_the_table_closes_its_file(tmp_path: Path, make: str) -> None:
    rows: list[list[object]] = [["participant_id", "hours"], ["P1", 1], ["P2", 2]]
    path = tmp_path / "upload"
    if make == "xlsx":
        write_xlsx(path, rows)
    else:
        path.write_text(csv_text([[str(c) for c in r] for r in rows]), encoding="utf-8")

    def is_open() -> bool:
        return any(Path(f.path) == path for f in psutil.Process().open_files())

    with open_table(path, "study_records") as table:
        next(table.rows())
        assert is_open()
    assert not is_open()


def test_a_large_file_streams_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 200_000
    with path.open("w", encoding="gb18030", newline="") as f:
        f.write("学员编号,姓名,身份证号,性别,市州代码,学校,职务\n")
        for i in range(rows):
            f.write(f"P{i:06d},张伟{i % 97},11010119900307457{i % 10},男,5101,第{i % 13}中学,教师\n")
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        with open_table(path, "nominees") as table:
            count = sum(1 for _, typed, problems in typed_rows(table) if typed is not None and not problems)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert peak < 2_000_000


def test_a_workbook_that_would_inflate_far_beyond_its_size_is_refused_unread(tmp_path: Path) -> None:
    workbook = write_xlsx(tmp_path / "real.xlsx", [["participant_id", "hours"], ["P1", 3]])
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(workbook) as real, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for member in real.infolist():
            out.writestr(member, real.read(member))
        out.writestr("xl/media/padding.bin", bytes(40 * 1024 * 1024))  # 40 MiB of zeros deflate to about 40 KB
    assert bomb.stat().st_size < 100_000
    message = refusal(tmp_path, bomb.read_bytes(), "study_records")
    assert "would expand to" in message and "refused unread" in message


def test_a_cell_longer_than_excel_allows_is_refused_naming_it(tmp_path: Path) -> None:
    written = write_xlsx(tmp_path / "written.xlsx", [["participant_id", "hours"], ["P1", 3], ["P2", "x" * 100]])
    workbook = tmp_path / "long.xlsx"  # Excel and openpyxl write no longer cell, so the file is made by hand
    with zipfile.ZipFile(written) as real, zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as out:
        for member in real.infolist():
            out.writestr(member, real.read(member).replace(b"x" * 100, b"x" * 40_000))
    with pytest.raises(FileRefused, match="Row 3, column B holds 40,000 characters, more than the 32,767 Excel allows"):
        read(workbook, "study_records")


def test_a_long_value_under_an_unnamed_column_is_quoted_short(tmp_path: Path) -> None:
    rows: list[list[object]] = [["participant_id", None, "hours"], ["P1", "y" * 30_000, 3]]
    (row,) = read(write_xlsx(tmp_path / "w.xlsx", rows), "study_records")
    (unnamed,) = row.problems
    assert unnamed.startswith("row 2, column B: 'yyyy") and len(unnamed) < 200
