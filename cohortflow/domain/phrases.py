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
"""

from __future__ import annotations


def phrase(template: str, /, **values: object) -> str:
    """``template`` with its blanks filled by ``values`` (each as ``str()`` gives it)."""
    return template.format_map(values)
