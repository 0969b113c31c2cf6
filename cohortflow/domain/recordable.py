"""Text no event can hold, found before anything is decided or recorded.

Two characters can reach a command yet never be stored: NUL (U+0000), which
PostgreSQL's JSON refuses, and a lone surrogate (U+D800 to U+DFFF), which is no
character at all and which UTF-8 cannot encode. JSON's ``\\u0000`` and ``\\ud800``
escapes are how they arrive (Python's ``json`` reads both). A command's fields
(:func:`cohortflow.domain.cycle.check_recordable`) and a template are checked here;
pydantic already refuses a lone surrogate in a constrained string (the API's ``Code``,
``Reason``, ``Value``), and the store refuses whatever gets past
(:class:`cohortflow.store.errors.UnstorableText`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel

from cohortflow.domain.phrases import phrase

_UNRECORDABLE = re.compile("[\x00\ud800-\udfff]")
NUL = "U+0000"


def unrecordable(value: object) -> str | None:
    """The first character no event can hold (NUL or a lone surrogate) in any text within ``value`` (a string, or
    dicts, lists and tuples of them, keys included), written ``U+D800``; None if there is none."""
    if isinstance(value, str):
        found = _UNRECORDABLE.search(value)
        return None if found is None else f"U+{ord(found.group()):04X}"
    if isinstance(value, dict):
        return next(filter(None, map(unrecordable, (*value, *value.values()))), None)
    if isinstance(value, (list, tuple)):
        return next(filter(None, map(unrecordable, value)), None)
    return None


def template_text_problems(template: BaseModel) -> Iterator[str]:
    """What in a template's text could not be recorded with it."""
    code = unrecordable(template.model_dump())
    if code == NUL:
        yield phrase("the template contains a NUL character (U+0000), which cannot be recorded")
    elif code is not None:
        yield phrase("the template contains a lone surrogate ({code}), which cannot be recorded", code=code)
