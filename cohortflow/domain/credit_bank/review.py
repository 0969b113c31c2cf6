"""The annual review (年度学分审核): each district reviews every school's credits for a year, once.

A school submits its list; a district reviewer approves it or returns it with reasons, and a returned list may
be submitted again. When every school's list is approved the year is locked for the district: an entry of a
locked year is never changed again, only cancelled by a reversing entry that names the approver who locked it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from cohortflow.domain.phrases import phrase

ListState = Literal["open", "submitted", "returned", "approved"]


def review_id(district: str, year: int) -> str:
    """The review's workflow and its stream of events."""
    return f"review-{district}-{year}"


class ReviewRefused(ValueError):
    """A review step that cannot be taken now; the message says why."""


def deadline_problem(year: int, deadline: date, today: date) -> str | None:
    """Why a review of ``year`` cannot end on ``deadline`` (opened on ``today``), if it cannot."""
    if deadline < today:
        return phrase("the deadline {deadline} has passed (today is {today})", deadline=deadline, today=today)
    if deadline.year < year:
        return phrase("the deadline {deadline} falls before the year {year} under review", deadline=deadline, year=year)
    return None


@dataclass(frozen=True)
class SchoolList:
    school: str
    state: ListState = "open"
    reasons: tuple[str, ...] = ()
    """Why it was last returned."""
    decided_by: str | None = None


@dataclass(frozen=True)
class YearReview:
    district: str
    year: int
    deadline: date
    schools: Mapping[str, SchoolList]
    approved_by: str | None = None
    """The reviewer whose approval of the last school locked the year."""

    @classmethod
    def open(cls, district: str, year: int, deadline: date, schools: list[str]) -> YearReview:
        if not schools:
            raise ReviewRefused(
                phrase("district {district} has no schools to review for {year}", district=district, year=year)
            )
        return cls(district, year, deadline, {s: SchoolList(s) for s in schools})

    @property
    def locked(self) -> bool:
        return self.approved_by is not None

    def waiting(self) -> list[str]:
        """The schools whose list is not approved yet: who a reminder goes to."""
        return [s.school for s in self.schools.values() if s.state != "approved"]

    def submit(self, school: str) -> YearReview:
        current = self._list(school)
        if current.state == "submitted":
            raise ReviewRefused(
                phrase("{list} is submitted; only an open or returned list is submitted", list=self._name(school))
            )
        if current.state == "approved":
            raise ReviewRefused(
                phrase("{list} is approved; only an open or returned list is submitted", list=self._name(school))
            )
        return self._with(dataclasses.replace(current, state="submitted"))

    def approve(self, school: str, reviewer: str) -> YearReview:
        current = self._submitted(school)
        review = self._with(dataclasses.replace(current, state="approved", reasons=(), decided_by=reviewer))
        return dataclasses.replace(review, approved_by=reviewer) if not review.waiting() else review

    def send_back(self, school: str, reviewer: str, reasons: list[str]) -> YearReview:
        if not [r for r in reasons if r.strip()]:
            raise ReviewRefused(phrase("returning {list} needs a reason", list=self._name(school)))
        current = self._submitted(school)
        return self._with(dataclasses.replace(current, state="returned", reasons=tuple(reasons), decided_by=reviewer))

    def _submitted(self, school: str) -> SchoolList:
        current = self._list(school)
        if current.state == "open":
            raise ReviewRefused(phrase("{list} is open; only a submitted list is decided", list=self._name(school)))
        if current.state == "returned":
            raise ReviewRefused(phrase("{list} is returned; only a submitted list is decided", list=self._name(school)))
        if current.state == "approved":
            raise ReviewRefused(phrase("{list} is approved; only a submitted list is decided", list=self._name(school)))
        return current

    def _list(self, school: str) -> SchoolList:
        if self.locked:
            raise ReviewRefused(
                phrase(
                    "the {year} review of district {district} is approved and locked",
                    year=self.year,
                    district=self.district,
                )
            )
        found = self.schools.get(school)
        if found is None:
            raise ReviewRefused(
                phrase(
                    "school {school} is not under review in district {district} for {year}",
                    school=school,
                    district=self.district,
                    year=self.year,
                )
            )
        return found

    def _with(self, school_list: SchoolList) -> YearReview:
        return dataclasses.replace(self, schools={**self.schools, school_list.school: school_list})

    def _name(self, school: str) -> str:
        return phrase("the {year} list of school {school}", year=self.year, school=school)


Locks = Mapping[tuple[str, int], str]
"""The approver who locked each (district, year)."""


def lock_problem(
    locks: Locks,
    district: str,
    earned_on: date,
    *,
    reversing: bool,
    approver: str | None,
    where: str | None = None,
) -> str | None:
    """Why an entry for hours earned on ``earned_on`` by someone of ``district`` may not be recorded; None if it
    may. A locked year takes no new entries, only reversing ones, each naming the approver who locked it. The
    problem names the field, after ``where`` (a file's row, a claim) when given."""
    locked_by = locks.get((district, earned_on.year))
    if locked_by is None:
        return None
    locked = phrase(
        "{year} is approved and locked for district {district} (by {approver})",
        year=earned_on.year,
        district=district,
        approver=locked_by,
    )
    if not reversing:
        if where:
            return phrase("{where}, earned_on: {locked}; it takes no new entries", where=where, locked=locked)
        return phrase("earned_on: {locked}; it takes no new entries", locked=locked)
    if approver != locked_by:
        if where:
            return phrase(
                "{where}: approver: {locked}; a reversal in it names that approver", where=where, locked=locked
            )
        return phrase("approver: {locked}; a reversal in it names that approver", locked=locked)
    return None
