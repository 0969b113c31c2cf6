"""Filling a place left open by a withdrawal, from the waiting list, by hand."""

from __future__ import annotations

import pytest

from cohortflow.domain.cycle import CommandRefused, decide_fill_place
from cohortflow.domain.events import ParticipantWithdrawn, WaitingListPromoted
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.programme import PhaseKind, Programme, parse_programme

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, History, programme, template

PROG = programme()  # four places, refilled until field_study opens


def capped(**caps: int) -> Programme:
    data = template()
    for pref in data["prefectures"]:
        pref["max_selected"] = caps.get(pref["code"])
    return parse_programme(data)


def cohort(withdrawn: tuple[str, ...] = ("P1",)) -> tuple[History, CohortFacts]:
    """P1 (长沙), P2 (株洲), P3 (湘潭), P6 (长沙) selected; P4 (株洲), P5 (长沙) waiting.

    By default P1 has withdrawn and nobody took the place, so one of four places is open.
    """
    history = History()
    prefectures = {"P1": CHANGSHA, "P2": ZHUZHOU, "P3": XIANGTAN, "P4": ZHUZHOU, "P5": CHANGSHA, "P6": CHANGSHA}
    for pid, code in prefectures.items():
        history.nominate(pid, code)
    history.select(["P1", "P2", "P3", "P6"], ["P4", "P5"])
    for pid in withdrawn:
        history.add(ParticipantWithdrawn(participant_id=pid, reason="ill", phase="selection"))
    return history, history.facts()


def test_without_a_name_the_first_waiting_candidate_fills_the_place() -> None:
    _, facts = cohort()
    assert decide_fill_place(facts, PROG, "selection", None) == WaitingListPromoted(participant_id="P4", replaces="")


def test_a_named_waiting_candidate_fills_the_place() -> None:
    _, facts = cohort()
    assert decide_fill_place(facts, PROG, "selection", "P5") == WaitingListPromoted(participant_id="P5", replaces="")


def test_a_filled_place_is_no_longer_open() -> None:
    history, facts = cohort()
    history.add(decide_fill_place(facts, PROG, "selection", None))
    after = history.facts()
    assert list(after.selected) == ["P2", "P3", "P6", "P4"]
    assert list(after.waiting_list) == ["P5"]
    with pytest.raises(CommandRefused, match=r"^all 4 places are taken$"):
        decide_fill_place(after, PROG, "selection", "P5")


def test_filling_a_place_before_selection_is_refused() -> None:
    history = History()
    history.nominate("P1")
    with pytest.raises(CommandRefused, match=r"^no selection has been made yet; there is no waiting list$"):
        decide_fill_place(history.facts(), PROG, "online_study", None)


@pytest.mark.parametrize("phase", ["field_study", "return_to_post", "follow_up", "completion"])
def test_filling_a_place_from_replace_until_on_is_refused(phase: PhaseKind) -> None:
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=r"^places are filled only before field_study opens$"):
        decide_fill_place(facts, PROG, phase, None)


def test_replace_until_is_taken_from_the_programme() -> None:
    _, facts = cohort()
    late = programme(replace_until="follow_up")
    assert decide_fill_place(facts, late, "return_to_post", None) == WaitingListPromoted(
        participant_id="P4", replaces=""
    )
    with pytest.raises(CommandRefused, match=r"^places are filled only before follow_up opens$"):
        decide_fill_place(facts, late, "follow_up", None)


def test_with_no_open_place_filling_is_refused() -> None:
    _, facts = cohort(withdrawn=())
    with pytest.raises(CommandRefused, match=r"^all 4 places are taken$"):
        decide_fill_place(facts, PROG, "selection", None)


@pytest.mark.parametrize("pid", ["P99", "P6", "P1"], ids=["unknown", "selected", "withdrawn"])
def test_a_named_candidate_not_on_the_waiting_list_is_refused(pid: str) -> None:
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=rf"^participant {pid} is not on the waiting list$"):
        decide_fill_place(facts, PROG, "selection", pid)


def test_a_withdrawn_waiting_candidate_is_no_longer_on_the_list() -> None:
    _, facts = cohort(withdrawn=("P1", "P4"))
    with pytest.raises(CommandRefused, match=r"^participant P4 is not on the waiting list$"):
        decide_fill_place(facts, PROG, "selection", "P4")
    assert decide_fill_place(facts, PROG, "selection", None) == WaitingListPromoted(participant_id="P5", replaces="")


def test_a_named_candidate_whose_prefecture_is_at_its_cap_is_refused() -> None:
    # 株洲 is capped at 1 and P2 holds that place.
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=r"^prefecture 430200 already has its cap of 1 selected$"):
        decide_fill_place(facts, capped(**{ZHUZHOU: 1}), "selection", "P4")


def test_a_named_candidate_below_the_cap_is_accepted() -> None:
    _, facts = cohort()
    assert decide_fill_place(facts, capped(**{ZHUZHOU: 2}), "selection", "P4") == WaitingListPromoted(
        participant_id="P4", replaces=""
    )


def test_the_auto_pick_skips_a_candidate_whose_prefecture_is_at_its_cap() -> None:
    _, facts = cohort()
    assert decide_fill_place(facts, capped(**{ZHUZHOU: 1}), "selection", None) == WaitingListPromoted(
        participant_id="P5", replaces=""
    )


def test_a_place_freed_by_a_withdrawal_counts_toward_the_cap_again() -> None:
    # P2 (株洲) withdrew, so 株洲 is below its cap of 1 and P4 may take the place.
    _, facts = cohort(withdrawn=("P2",))
    assert decide_fill_place(facts, capped(**{ZHUZHOU: 1}), "selection", None) == WaitingListPromoted(
        participant_id="P4", replaces=""
    )


def test_the_auto_pick_is_refused_when_nobody_fits_a_cap() -> None:
    # 株洲 (P2) and 长沙 (P6) are each at their cap of 1; P4 and P5 both wait in those prefectures.
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=r"^nobody on the waiting list fits a prefecture's cap$"):
        decide_fill_place(facts, capped(**{ZHUZHOU: 1, CHANGSHA: 1}), "selection", None)


def test_the_auto_pick_is_refused_when_the_waiting_list_is_empty() -> None:
    _, facts = cohort(withdrawn=("P1", "P4", "P5"))
    assert list(facts.waiting_list) == []
    with pytest.raises(CommandRefused, match=r"^the waiting list is empty$"):
        decide_fill_place(facts, PROG, "selection", None)
