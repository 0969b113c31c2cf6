"""A form's problems in the reader's language, each under the name of its field.

The API's request models check the console's forms; pydantic names each problem by a stable type, so the common
ones are said in the reader's language and any other is shown as pydantic words it (English).
"""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError

from cohortflow.console.rendering import say

MESSAGES = {
    "missing": "Fill this in.",
    "string_too_short": "Fill this in.",
    "string_too_long": "This is too long.",
    "string_pattern_mismatch": "Use only the characters allowed here.",
    "literal_error": "Choose one of the choices offered.",
    "datetime_from_date_parsing": "Give a date and a time.",
    "datetime_parsing": "Give a date and a time.",
    "datetime_type": "Give a date and a time.",
    "int_parsing": "Give a whole number.",
}
"""pydantic's error types the console's forms meet, with what the reader is told."""


def problems_of(request: Request, exc: ValidationError) -> dict[str, str]:
    """Each field's first problem, by the field's name."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][-1]) if error["loc"] else ""
        known = MESSAGES.get(error["type"])
        problems.setdefault(field, say(request, known) if known else error["msg"])
    return problems
