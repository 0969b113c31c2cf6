"""A generated import file: a CSV with the canonical English headers of its kind, as an office would send it."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from cohortflow.domain.nomination import NomineeRow
from cohortflow.domain.vocabulary import ImportKind
from cohortflow.imports.columns import COLUMNS

File = tuple[ImportKind, bytes]
"""An import kind and the file's content."""


def csv_file(kind: ImportKind, rows: Sequence[Mapping[str, object]]) -> File:
    out = io.StringIO()
    writer = csv.DictWriter(out, [c.name for c in COLUMNS[kind]], extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return kind, out.getvalue().encode("utf-8")


def nominee_cells(row: NomineeRow, *, track: str = "", school_level: str = "") -> dict[str, object]:
    """A nominee as a line of the nomination sheet."""
    return {
        "participant_id": row.participant_id,
        "name": row.name,
        "national_id": row.national_id,
        "gender": row.gender,
        "prefecture_code": row.prefecture_code,
        "school": row.school or "",
        "role": row.role or "",
        "email": row.email or "",
        "phone": row.phone or "",
        "locale": row.locale,
        "track": track,
        "school_level": school_level,
    }
