"""How the CLI shows the API's values: numbers, moments, nested objects and tables.

Counts get thousands separators and identifiers do not (a year is `2026`, not
`2,026`); moments are shown in the programmes' time zone rather than as the
API's UTC; nested objects become indented sections under readable labels; and
a table is never cut: at a terminal rich wraps it to the width, elsewhere
(a pipe, a file) it is printed as wide as its content.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.markup import escape

from cohortflow.cli.messages import _
from cohortflow.domain.vocabulary import DEFAULT_TIME_ZONE

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

IDENTIFIER_SUFFIXES = ("id", "year", "version", "position", "code", "digest")
"""Keys whose whole numbers name something rather than count it: printed without separators."""


@cache
def display_zone() -> ZoneInfo:
    """The zone moments are shown in: the programmes' (the domain's default, which the API's answers do not vary)."""
    return ZoneInfo(DEFAULT_TIME_ZONE)


def label(key: str) -> str:
    """A key of the API's answers as a label: `programme_version` is "programme version" (or its translation)."""
    return _(key.replace("_", " "))


def is_identifier(key: str) -> bool:
    return key.lower().replace(" ", "_").endswith(IDENTIFIER_SUFFIXES)


def when(value: Any) -> str:
    """A moment from the API, in the programmes' time zone, to the second, with its offset."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value or "")
    if moment.tzinfo is None:
        return moment.isoformat(" ", "seconds")
    return moment.astimezone(display_zone()).isoformat(" ", "seconds")


def _moment(text: str) -> str | None:
    """``text`` as a local moment if it is an ISO timestamp with its zone (as the API sends them), else None."""
    if len(text) < 20 or text[4:5] != "-" or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when(moment) if moment.tzinfo is not None else None


def cell(value: Any, key: str = "") -> str:
    """One value as rich markup for a table cell; ``key`` is what it is (a year or an id is not a count)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict | list):
        return escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    if isinstance(value, int | float):
        return str(int(value)) if is_identifier(key) else f"{int(value):,}"
    return escape(_moment(str(value)) or str(value))


def fields(body: Mapping[str, Any], title: str | None = None) -> Table:
    """An object as label/value rows; a nested object is a section: its label, then its fields indented under it."""
    from rich.table import Table

    table = Table(title=escape(title) if title else None, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")

    def add(obj: Mapping[str, Any], depth: int) -> None:
        indent = "  " * depth
        for key, value in obj.items():
            if isinstance(value, dict) and value:
                table.add_row(indent + escape(label(key)), "")
                add(value, depth + 1)
            else:
                table.add_row(indent + escape(label(key)), cell(value, key))

    add(body, 0)
    return table


def rows_table(rows: Sequence[Mapping[str, Any]], title: str, columns: list[str] | None = None) -> Table:
    """Rows of JSON objects as a table, with ``columns`` or else every key the rows have."""
    from rich.table import Table

    keys = columns or list(dict.fromkeys(key for row in rows for key in row))
    table = Table(title=title)
    for key in keys:
        table.add_column(escape(label(key)), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(key), key) for key in keys))
    return table


def print_table(console: Console, table: Table) -> None:
    """At a terminal, fitted to its width (cells wrap); elsewhere as wide as the content, so nothing is cut."""
    if console.is_terminal:
        console.print(table)
        return
    from rich.console import Console
    from rich.measure import Measurement

    widest = Measurement.get(console, console.options.update(width=1 << 16), table).maximum
    # rich caps a print's width at its console's, so the table goes through a console as wide as it is.
    Console(file=console.file, width=max(widest, console.width), highlight=False).print(table, crop=False)
