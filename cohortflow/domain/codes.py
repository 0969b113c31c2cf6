"""Codes a template lists once each: which are listed more than once, and the problem that says so."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator


def duplicates(codes: Iterable[str]) -> list[str]:
    """The codes listed more than once, sorted."""
    return sorted(code for code, n in Counter(codes).items() if n > 1)


def listed_twice(what: str, codes: Iterable[str]) -> Iterator[str]:
    """``{what} {code} is listed more than once`` for each code listed more than once."""
    for code in duplicates(codes):
        yield f"{what} {code} is listed more than once"
