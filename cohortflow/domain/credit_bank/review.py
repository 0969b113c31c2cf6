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

ListState = Literal["open", "submitted", "returned", "approved"]


def review_id(district: str, year: int) -> str:
    """The review's workflow and its stream of events."""
    return f"review-{district}-{year}"


class ReviewRefused(ValueError):
    """A review step that cannot be taken now; the message says why."""


def deadline_problem(year: int, deadline: date, today: date) -> str | None:
    """Why a review of ``year`` cannot end on ``deadline`` (opened on ``today``), if it cannot."""
    if deadline < today:
        return f"the deadline {deadline} has passed (today is {today})"
    if deadline.year < year:
        return f"the deadline {deadline} falls before the year {year} under review"
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
            raise ReviewRefused(f"district {district} has no schools to review for {year}")
        return cls(district, year, deadline, {s: SchoolList(s) for s in schools})

    @property
    def locked(self) -> bool:
        return self.approved_by is not None

    def waiting(self) -> list[str]:
        """The schools whose list is not approved yet: who a reminder goes to."""
        return [s.school for s in self.schools.values() if s.state != "approved"]

    def submit(self, school: str) -> YearReview:
        current = self._list(school)
        if current.state not in ("open", "returned"):
            raise ReviewRefused(f"{self._name(school)} is {current.state}; only an open or returned list is submitted")
        return self._with(dataclasses.replace(current, state="submitted"))

    def approve(self, school: str, reviewer: str) -> YearReview:
        current = self._submitted(school)
        review = self._with(dataclasses.replace(current, state="approved", reasons=(), decided_by=reviewer))
        return dataclasses.replace(review, approved_by=reviewer) if not review.waiting() else review

    def send_back(self, school: str, reviewer: str, reasons: list[str]) -> YearReview:
        if not [r for r in reasons if r.strip()]:
            raise ReviewRefused(f"returning {self._name(school)} needs a reason")
        current = self._submitted(school)
        return self._with(dataclasses.replace(current, state="returned", reasons=tuple(reasons), decided_by=reviewer))

    def _submitted(self, school: str) -> SchoolList:
        current = self._list(school)
        if current.state != "submitted":
            raise ReviewRefused(f"{self._name(school)} is {current.state}; only a submitted list is decided")
        return current

    def _list(self, school: str) -> SchoolList:
        if self.locked:
            raise ReviewRefused(f"the {self.year} review of district {self.district} is approved and locked")
        found = self.schools.get(school)
        if found is None:
            raise ReviewRefused(f"school {school} is not under review in district {self.district} for {self.year}")
        return found

    def _with(self, school_list: SchoolList) -> YearReview:
        return dataclasses.replace(self, schools={**self.schools, school_list.school: school_list})

    def _name(self, school: str) -> str:
        return f"the {self.year} list of school {school}"


Locks = Mapping[tuple[str, int], str]
"""The approver who locked each (district, year)."""


def lock_problem(locks: Locks, district: str, earned_on: date, *, reversing: bool, approver: str | None) -> str | None:
    """Why an entry for hours earned on ``earned_on`` by someone of ``district`` may not be recorded; None if it
    may. A locked year takes no new entries, only reversing ones, each naming the approver who locked it."""
    locked_by = locks.get((district, earned_on.year))
    if locked_by is None:
        return None
    locked = f"{earned_on.year} is approved and locked for district {district} (by {locked_by})"
    if not reversing:
        return f"earned_on: {locked}; it takes no new entries"
    if approver != locked_by:
        return f"approver: {locked}; a reversal in it names that approver"
    return None
