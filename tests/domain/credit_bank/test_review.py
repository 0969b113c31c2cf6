from __future__ import annotations

from datetime import date

import pytest

from cohortflow.domain.credit_bank.recognition import Claim, Reviewer, decision_problems
from cohortflow.domain.credit_bank.review import ReviewRefused, YearReview, lock_problem


def review() -> YearReview:
    return YearReview.open("110105", 2025, date(2026, 1, 31), ["s1", "s2"])


def test_a_returned_list_is_submitted_again_and_approving_the_last_school_locks_the_year() -> None:
    r = review().submit("s1").submit("s2")
    r = r.send_back("s1", "reviewer:wang", ["12 hours of 2025-03 have no attendance sheet"])
    assert r.schools["s1"].state == "returned" and r.schools["s1"].reasons == (
        "12 hours of 2025-03 have no attendance sheet",
    )
    r = r.approve("s2", "reviewer:wang")
    assert (r.locked, r.waiting()) == (False, ["s1"])
    r = r.submit("s1").approve("s1", "reviewer:li")
    assert (r.locked, r.approved_by, r.waiting()) == (True, "reviewer:li", [])
    with pytest.raises(ReviewRefused, match="the 2025 review of district 110105 is approved and locked"):
        r.submit("s1")


def test_review_steps_out_of_order_are_refused_with_the_reason() -> None:
    with pytest.raises(ReviewRefused, match="only a submitted list is decided"):
        review().approve("s1", "reviewer:wang")
    with pytest.raises(ReviewRefused, match="only an open or returned list is submitted"):
        review().submit("s1").submit("s1")
    with pytest.raises(ReviewRefused, match="needs a reason"):
        review().submit("s1").send_back("s1", "reviewer:wang", ["  "])
    with pytest.raises(ReviewRefused, match="school s9 is not under review"):
        review().submit("s9")
    with pytest.raises(ReviewRefused, match="has no schools"):
        YearReview.open("110105", 2025, date(2026, 1, 31), [])


def test_a_locked_year_takes_only_a_reversing_entry_that_names_its_approver() -> None:
    locked = review().submit("s1").submit("s2").approve("s1", "reviewer:wang").approve("s2", "reviewer:wang")
    assert (locked.locked, locked.approved_by) == (True, "reviewer:wang")
    locks = {("110105", 2025): "reviewer:wang"}
    assert lock_problem(locks, "110105", date(2025, 6, 1), reversing=False, approver=None) == (
        "earned_on: 2025 is approved and locked for district 110105 (by reviewer:wang); it takes no new entries"
    )
    assert lock_problem(locks, "110105", date(2025, 6, 1), reversing=True, approver="reviewer:zhao") == (
        "approver: 2025 is approved and locked for district 110105 (by reviewer:wang); a reversal in it names that "
        "approver"
    )
    assert lock_problem(locks, "110105", date(2025, 6, 1), reversing=True, approver="reviewer:wang") is None
    assert lock_problem(locks, "110105", date(2026, 3, 1), reversing=False, approver=None) is None
    assert lock_problem(locks, "110106", date(2025, 6, 1), reversing=False, approver=None) is None


def test_recognition_is_decided_by_a_reviewer_of_the_credits_level_and_unit() -> None:
    claim = Claim("c1", "p1", 24, "district", "110105")
    own = Reviewer("reviewer:wang", "district", "110105")
    assert decision_problems(claim, own, "approved", "") == []
    assert decision_problems(claim, Reviewer("reviewer:zhou", "city", "1101"), "approved", "") == [
        "claim c1: district credits of 110105 are decided by its own reviewers, not by a city reviewer of 1101"
    ]
    assert decision_problems(claim, own, "refused", " ") == ["claim c1, reason: a refusal says why"]
    decided = Claim("c1", "p1", 24, "district", "110105", decided="approved")
    assert decision_problems(decided, own, "refused", "duplicate") == ["claim c1: already approved"]
