"""Codes listed more than once, named once each and in order."""

from __future__ import annotations

from cohortflow.domain.codes import duplicates, listed_twice


def test_each_code_listed_more_than_once_is_named_once_in_order() -> None:
    assert duplicates(["b", "a", "b", "c", "a", "b"]) == ["a", "b"]
    assert duplicates(iter(["x", "y"])) == []
    assert list(listed_twice("site", ["CS", "NC", "CS"])) == ["site CS is listed more than once"]
