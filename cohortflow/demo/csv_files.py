"""A generated import file: a CSV with the canonical English headers of its kind, as an office would send it."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

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
