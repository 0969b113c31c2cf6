"""What the service says to people, written once in English with named blanks.

A refusal, a file's row problem or a template problem is built with
:func:`phrase` from a literal template and its values, and travels as the
English text it makes: through activities, Temporal's failures, the store and
rejects files alike. Where a reader wants Chinese (the API's ``Accept-Language``,
the console, the CLI's ``--lang``), :mod:`cohortflow.texts` recognises the
template in that text, by its literal words, and says it with the Chinese
template and the same values. Templates are literal so that the catalogue can
be checked against the code: every template has its Chinese, and every Chinese
entry has its template (``tests/texts/test_catalogue.py``).

Blanks are plain ``{name}`` fields: a value is formatted by the caller (``f"{hours:g}"``), so a
template never reaches into an object, and its Chinese names the same blanks.

Several phrases said together are a list, made with :func:`joined` (``a; b; c``) or :func:`in_lines`
(``a\\n- b\\n- c``): a list is a phrase ``{one}`` separator ``{others}`` (the blanks :data:`LIST` names),
so a reader's language says every item on its own and joins them its own way.
"""

from __future__ import annotations

from collections.abc import Sequence

HOLDS_PHRASES = frozenset(
    {"where", "why", "reason", "more", "problems", "problem", "span", "detail", "list", "prefecture", "parameter"}
    | {"media", "places", "cells", "what"}
)
"""The blanks whose value is itself a phrase (``{where}`` holds ``row 3``); every other blank holds a plain value
(a number, a day, an id, a name). When a text can be read two ways, one template inside the other or the other way
round, the reading that puts a phrase where a phrase belongs is the one meant."""

LIST = ("one", "others")
"""The blanks of a list's phrase: its first item, and the items after it (a list of their own)."""


def phrase(template: str, /, **values: object) -> str:
    """``template`` with its blanks filled by ``values`` (each as ``str()`` gives it)."""
    return template.format_map(values)


def joined(items: Sequence[str], /) -> str:
    """``items`` one after another, ``a; b; c`` (empty for none)."""
    said = items[-1] if items else ""
    for item in reversed(items[:-1]):
        said = phrase("{one}; {others}", one=item, others=said)
    return said


def in_lines(items: Sequence[str], /) -> str:
    """``items`` one a line, ``a\\n- b\\n- c``, to follow a template's own ``\\n- `` (empty for none)."""
    said = items[-1] if items else ""
    for item in reversed(items[:-1]):
        said = phrase("{one}\n- {others}", one=item, others=said)
    return said
