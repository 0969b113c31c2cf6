"""Codes a template lists once each: which are listed more than once, and the problem that says so."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from cohortflow.domain.phrases import phrase


def duplicates(codes: Iterable[str]) -> list[str]:
    """The codes listed more than once, sorted."""
    return sorted(code for code, n in Counter(codes).items() if n > 1)


def listed_twice(what: str | Callable[[str], str], codes: Iterable[str]) -> Iterator[str]:
    """``{what} {code} is listed more than once`` for each code listed more than once.

    ``what`` is best a function giving the phrase that names a code in its place
    (``lambda code: phrase("site {site}", site=code)``), so that the place is said in the
    reader's language as well; given as plain text (``"site"``), it is shown as it is.
    """
    for code in duplicates(codes):
        place = what(code) if callable(what) else f"{what} {code}"
        yield phrase("{place} is listed more than once", place=place)
