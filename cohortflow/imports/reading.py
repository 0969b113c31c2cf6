"""Streaming an uploaded import file as normalised rows.

Files come from many offices: Excel workbooks, CSV in UTF-8 (with or without a
byte-order mark) or in GB18030 from older Chinese Windows, tab-separated text,
full-width digits, stray spaces and blank lines. The format is told from the
content, never the file name, and rows are read one at a time so a file of any
size takes little memory. Row numbers are those the administrator sees in
Excel or an editor, so every problem can be found and fixed in the file itself.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import re
import unicodedata
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, TextIO

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from cohortflow.domain.phrases import in_lines, phrase
from cohortflow.imports.columns import COLUMNS, TableKind, accepted_names, column_by_key, header_key, is_known_name

_CHUNK = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EXCEL_DIGITS = 15
_SAVE_AS = phrase("Save it from Excel as .xlsx or as 'CSV UTF-8 (comma delimited)' and upload it again.")
# Limits a workbook must keep before it is opened, since openpyxl trusts what the archive says.
# The sizes an archive declares are safe to check: zipfile never inflates a member past its declared size.
_XLSX_MAX_EXPANDED = 512 * 1024 * 1024  # every member together, inflated
_XLSX_MAX_RATIO = 100  # inflated / compressed: real workbooks stay under about 20, bombs reach thousands
_XLSX_SMALL = 16 * 1024 * 1024  # below this inflated size the ratio is not looked at
_XLSX_MAX_SHARED_STRINGS = 64 * 1024 * 1024  # openpyxl reads the whole shared-string table into memory
# Excel's own limits: no workbook it saves goes past them, so a file that does was not made by an office.
_EXCEL_ROWS = 1_048_576
_EXCEL_COLUMNS = 16_384
_EXCEL_CELL = 32_767
# Invisible characters pasted from web pages and chat apps; left in place they make equal IDs differ.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


class FileRefused(ValueError):
    """The whole file cannot be read; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class SourceRow:
    row: int
    values: dict[str, str]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Record:
    """One row of the file as read, before its cells are matched to columns."""

    row: int
    cells: list[str]
    lossy: tuple[int, ...] = ()  # positions of numbers longer than Excel stores exactly

    def width(self) -> int:
        """The number of cells up to the last one that is not blank."""
        width = len(self.cells)
        while width and not self.cells[width - 1]:
            width -= 1
        return width


def normalise(text: str) -> str:
    """Full-width forms to ASCII, invisible characters removed, surrounding whitespace stripped."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).strip()


def detect_encoding(path: Path) -> str:
    """The file's encoding (utf-8-sig, utf-8 or gb18030), checked over all of it a chunk at a time."""
    with path.open("rb") as f:
        head = f.read(len(codecs.BOM_UTF8))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(
            phrase(
                "The file is UTF-16 text (Excel's 'Unicode Text'), which is not accepted. {save_as}", save_as=_SAVE_AS
            )
        )
    with_bom = head == codecs.BOM_UTF8
    utf8_error = _first_undecodable(path, "utf-8")
    if utf8_error is None:
        return "utf-8-sig" if with_bom else "utf-8"
    if with_bom:
        raise FileRefused(
            phrase(
                "The file starts as UTF-8 text but {where} is not UTF-8. {save_as}", where=utf8_error, save_as=_SAVE_AS
            )
        )
    gb_error = _first_undecodable(path, "gb18030")
    if gb_error is None:
        return "gb18030"
    raise FileRefused(
        phrase(
            "The file is neither UTF-8 nor GB18030 text: {where} cannot be decoded. {save_as}",
            where=gb_error,
            save_as=_SAVE_AS,
        )
    )


def _first_undecodable(path: Path, encoding: str) -> str | None:
    """Where the file stops being ``encoding`` ("line L (byte B)"), or None if all of it decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = lines = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise FileRefused(
                    phrase(
                        "The file holds binary data (a NUL byte at byte {byte}), "
                        "so it is not a spreadsheet or CSV text. {save_as}",
                        byte=offset + nul,
                        save_as=_SAVE_AS,
                    )
                )
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines + (pending + chunk)[: exc.start].count(b"\n") + 1
                return phrase("line {line} (byte {byte})", line=line, byte=offset - len(pending) + exc.start)
            if not chunk:
                return None
            offset += len(chunk)
            lines += chunk.count(b"\n")


class Table:
    """An open import file: its columns, read from the header, and a stream of its rows."""

    def __init__(
        self,
        kind: TableKind,
        format: Literal["csv", "xlsx"],
        encoding: str | None,
        records: Generator[_Record],
        resources: contextlib.ExitStack,
    ) -> None:
        self.kind = kind
        self.format = format
        self.encoding = encoding
        self._records = records
        self._resources = resources
        try:
            self._positions = _header_positions(kind, next((r for r in records if r.width()), None))
        except BaseException:
            self.close()
            raise
        self.columns = [name for name in self._positions if name is not None]
        self._all_columns = [c.name for c in COLUMNS[kind]]

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._records.close()
        self._resources.close()

    def rows(self) -> Iterator[SourceRow]:
        """The data rows after the header, skipping blank ones, read from the file as they are taken (once)."""
        for record in self._records:
            if record.width():
                yield self._source_row(record)

    def _source_row(self, record: _Record) -> SourceRow:
        values = dict.fromkeys(self._all_columns, "")
        problems = self._width_problems(record)
        for i, (name, text) in enumerate(zip(self._positions, record.cells, strict=False)):
            if name is not None:
                values[name] = text
                if i in record.lossy:
                    problems.append(
                        phrase(
                            "row {row}, {column}: {value} was stored as a number of more than {digits} digits, and "
                            "Excel keeps only {digits}, so digits are lost; format the column as text and enter the "
                            "values again",
                            row=record.row,
                            column=name,
                            value=text,
                            digits=_EXCEL_DIGITS,
                        )
                    )
            elif text:
                problems.append(
                    phrase(
                        "row {row}, column {column}: {value} is in a column with no header; delete it or name the "
                        "column",
                        row=record.row,
                        column=get_column_letter(i + 1),
                        value=_shown(text),
                    )
                )
        return SourceRow(record.row, values, tuple(problems))

    def _width_problems(self, record: _Record) -> list[str]:
        expected = len(self._positions)
        # A workbook leaves out empty trailing cells, but a short CSV row has lost separators.
        if record.width() > expected:
            found = record.width()
        elif self.format == "csv" and len(record.cells) < expected:
            found = len(record.cells)
        else:
            return []
        cells = phrase("1 cell") if found == 1 else phrase("{count} cells", count=found)
        return [
            phrase(
                "row {row}: {cells}, but the header has {expected} columns",
                row=record.row,
                cells=cells,
                expected=expected,
            )
        ]


def _shown(text: str, limit: int = 40) -> str:
    """A cell's text quoted in a message, cut short: messages are recorded, and a cell may be long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _header_positions(kind: TableKind, header: _Record | None) -> list[str | None]:
    """The canonical column at each position of the header (None where it is blank), or every problem with it."""
    if header is None:
        raise FileRefused(
            phrase("The file is empty. Its first row must name the columns: {accepted}.", accepted=accepted_names(kind))
        )
    names = header.cells[: header.width()]
    if not any(is_known_name(name) for name in names):
        shown = ", ".join(_shown(name) for name in names[:5])
        raise FileRefused(
            phrase(
                "The file has no header row: row {row} ({shown}) names no columns. "
                "Insert a first row naming the columns: {accepted}.",
                row=header.row,
                shown=shown,
                accepted=accepted_names(kind),
            )
        )
    by_key = column_by_key(kind)
    positions = [by_key.get(header_key(name)) if name else None for name in names]
    problems = _unknown(kind, names, positions) + _twice(names, positions) + _missing(kind, positions)
    if problems:
        raise FileRefused(_header_problems(header.row, problems))
    return positions


def _header_problems(row: int, problems: list[str]) -> str:
    """The header's problems, one a line."""
    return phrase("The header row (row {row}) has problems:\n- {problems}", row=row, problems=in_lines(problems))


def _unknown(kind: TableKind, names: list[str], positions: list[str | None]) -> list[str]:
    unknown = [_shown(name) for name, canonical in zip(names, positions, strict=True) if name and canonical is None]
    if not unknown:
        return []
    return [
        phrase(
            "unknown column(s) {unknown}; the columns of a {kind} file are: {accepted}",
            unknown=", ".join(unknown),
            kind=kind,
            accepted=accepted_names(kind),
        )
    ]


def _twice(names: list[str], positions: list[str | None]) -> list[str]:
    found_at: dict[str, list[int]] = {}
    for i, canonical in enumerate(positions):
        if canonical is not None:
            found_at.setdefault(canonical, []).append(i)
    return [
        phrase(
            "the {column} column is given more than once: {places}; keep one",
            column=canonical,
            places=_places([(_shown(names[i]), get_column_letter(i + 1)) for i in at]),
        )
        for canonical, at in found_at.items()
        if len(at) > 1
    ]


def _places(places: list[tuple[str, str]]) -> str:
    """Where a header name is found, each place ``'name' in column C``, joined by "and"; made as one phrase inside
    another, so that each place is said."""
    (name, column), *more = places
    if not more:
        return phrase("{name} in column {column}", name=name, column=column)
    return phrase("{name} in column {column} and {more}", name=name, column=column, more=_places(more))


def _missing(kind: TableKind, positions: list[str | None]) -> list[str]:
    missing = [c for c in COLUMNS[kind] if c.required and c.name not in positions]
    if not missing:
        return []
    names = ", ".join(f"{c.name} (or {', '.join(c.aliases)})" for c in missing)
    return [phrase("missing required column(s): {names}; add them to the header row", names=names)]


def open_table(path: Path, kind: TableKind) -> Table:
    """Open an uploaded file of ``kind`` and read its header; FileRefused says why the file cannot be used."""
    with path.open("rb") as f:
        magic = f.read(len(_OLE_MAGIC))
    if magic.startswith(_ZIP_MAGIC):
        return _open_xlsx(path, kind)
    if magic == _OLE_MAGIC:
        raise FileRefused(
            phrase(
                "The file is an old Excel .xls workbook or a password-protected one. Remove any password. {save_as}",
                save_as=_SAVE_AS,
            )
        )
    return _open_csv(path, kind)


def _open_csv(path: Path, kind: TableKind) -> Table:
    encoding = detect_encoding(path)
    with contextlib.ExitStack() as opening:
        stream = opening.enter_context(path.open(encoding=encoding, newline=""))
        return Table(kind, "csv", encoding, _csv_records(stream), opening.pop_all())


def _csv_records(stream: TextIO) -> Generator[_Record]:
    reader = csv.reader(stream, delimiter=_delimiter(stream))
    try:
        # csv yields an empty record for a blank line, so counting records counts the rows as Excel shows them.
        for number, cells in enumerate(reader, start=1):
            yield _Record(number, [normalise(cell) for cell in cells])
    except csv.Error as exc:
        raise FileRefused(
            phrase(
                "The file cannot be read as CSV near line {line} ({error}); look there for a double "
                'quote (") that opens a cell and is never closed.',
                line=reader.line_num,
                error=exc,
            )
        ) from None


def _delimiter(stream: TextIO) -> str:
    """Tab if the first non-blank line has tabs and no commas, else comma; the stream is rewound."""
    line = stream.readline()
    while line and not normalise(line).strip(',\t"'):
        line = stream.readline()
    stream.seek(0)
    return "\t" if "\t" in line and "," not in line else ","


def _open_xlsx(path: Path, kind: TableKind) -> Table:
    _check_archive(path)
    with contextlib.ExitStack() as opening:
        # A file object, not the path: openpyxl refuses names without .xlsx, and uploads are named by digest.
        workbook = _load_workbook(opening.enter_context(path.open("rb")))
        opening.callback(workbook.close)
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if not isinstance(sheet, ReadOnlyWorksheet):
            raise FileRefused(phrase("The workbook has no worksheet. {save_as}", save_as=_SAVE_AS))
        # The stored dimensions are wrong in files from some exporters, and trusting them would drop rows.
        sheet.reset_dimensions()
        return Table(kind, "xlsx", None, _xlsx_records(sheet), opening.pop_all())


def _check_archive(path: Path) -> None:
    """Refuse a workbook that would inflate far beyond its size (a zip bomb) before openpyxl reads any of it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise FileRefused(
            phrase(
                "The file is a ZIP archive but not an Excel .xlsx workbook (it is damaged). {save_as}", save_as=_SAVE_AS
            )
        ) from None
    expanded = sum(m.file_size for m in members)
    shared = sum(m.file_size for m in members if m.filename.lower().endswith("sharedstrings.xml"))
    too_dense = expanded > _XLSX_SMALL and expanded > _XLSX_MAX_RATIO * path.stat().st_size
    if expanded > _XLSX_MAX_EXPANDED or too_dense or shared > _XLSX_MAX_SHARED_STRINGS:
        raise FileRefused(
            phrase(
                "The workbook would expand to {expanded} bytes ({shared} of them text) from {size}, more than a "
                "spreadsheet of this size holds; it is refused unread. Save it again from Excel, or split it, and "
                "upload it again.",
                expanded=f"{expanded:,}",
                shared=f"{shared:,}",
                size=f"{path.stat().st_size:,}",
            )
        )


def _load_workbook(file: BinaryIO) -> Workbook:
    try:
        return openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of error for a zip that is not a workbook
        raise FileRefused(
            phrase("The file is a ZIP archive but not an Excel .xlsx workbook. {save_as}", save_as=_SAVE_AS)
        ) from None


def _xlsx_records(sheet: ReadOnlyWorksheet) -> Generator[_Record]:
    # openpyxl yields an empty row for each row missing from the sheet, so counting keeps Excel's numbers.
    for number, values in enumerate(sheet.values, start=1):
        if number > _EXCEL_ROWS or len(values) > _EXCEL_COLUMNS:
            raise FileRefused(
                phrase(
                    "The workbook goes past Excel's last row or column (row {row}, {columns} columns), "
                    "so it was not saved by Excel. {save_as}",
                    row=f"{number:,}",
                    columns=f"{len(values):,}",
                    save_as=_SAVE_AS,
                )
            )
        cells = [_cell_text(value) for value in values]
        longest = max(cells, key=len, default="")
        if len(longest) > _EXCEL_CELL:
            column = get_column_letter(cells.index(longest) + 1)
            raise FileRefused(
                phrase(
                    "Row {row}, column {column} holds {length} characters, more than the {limit} Excel allows in a "
                    "cell. {save_as}",
                    row=number,
                    column=column,
                    length=f"{len(longest):,}",
                    limit=f"{_EXCEL_CELL:,}",
                    save_as=_SAVE_AS,
                )
            )
        lossy = tuple(i for i, value in enumerate(values) if _beyond_excel_precision(value))
        yield _Record(number, cells, lossy)


def _cell_text(value: object) -> str:
    """A workbook cell's value as the text an administrator typed; integral numbers keep all their digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime) and value.time() == time():
        return value.date().isoformat()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return normalise(str(value))


def _beyond_excel_precision(value: object) -> bool:
    """A number Excel stored with more digits than it keeps, as when an ID number is typed into a number cell."""
    return isinstance(value, float) and value.is_integer() and abs(value) >= 10**_EXCEL_DIGITS
