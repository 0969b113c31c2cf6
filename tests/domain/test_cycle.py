"""The cohort cycle: phase deadlines and extensions, closing phases, withdrawals and refills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cohortflow.domain.cycle import (
    CommandRefused,
    CycleState,
    decide_close_phase,
    decide_extend_deadline,
    decide_withdrawal,
)
from cohortflow.domain.events import DeadlineExtended, ParticipantWithdrawn, WaitingListPromoted
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.programme import PHASE_ORDER, PhaseKind, Programme, parse_programme

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, History, programme, template

START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
DAY = 86_400.0
PROG = programme()


def state_in(phase: PhaseKind, day_seconds: float = DAY) -> CycleState:
    return CycleState(started_at=START, day_seconds=day_seconds, phase_index=PHASE_ORDER.index(phase))


def finished() -> CycleState:
    return CycleState(started_at=START, day_seconds=DAY, phase_index=len(PHASE_ORDER))


# --- deadlines ---------------------------------------------------------------------------------


def test_each_phase_opens_and_closes_on_its_template_days() -> None:
    state = CycleState(started_at=START, day_seconds=DAY)
    seen = []
    while not state.finished:
        seen.append((state.phase, state.opens_at(PROG), state.deadline(PROG)))
        state = state.advanced(START)
    assert [kind for kind, _, _ in seen] == list(PHASE_ORDER)
    assert seen[0] == ("nomination", START, START + timedelta(days=10))
    assert seen[3] == ("field_study", START + timedelta(days=45), START + timedelta(days=75))
    assert seen[-1] == ("completion", START + timedelta(days=200), START + timedelta(days=201))


def test_a_short_day_compresses_the_calendar_for_tests_and_demos() -> None:
    state = state_in("online_study", day_seconds=2)
    assert state.opens_at(PROG) == START + timedelta(seconds=20)
    assert state.deadline(PROG) == START + timedelta(seconds=80)
    assert state.day(3) == timedelta(seconds=6)
    assert state_in("nomination").day(3) == timedelta(days=3)


def test_advancing_moves_to_the_next_phase_and_clears_an_early_close() -> None:
    closing = decide_close_phase(state_in("online_study"), "online_study")
    nxt = closing.advanced(START)
    assert nxt.phase == "selection"
    assert not nxt.closed_early
    assert nxt.shift_seconds == closing.shift_seconds


def test_the_cycle_finishes_after_the_completion_phase() -> None:
    state = state_in("completion")
    assert not state.finished
    assert state.advanced(START).finished


# --- closing a phase ---------------------------------------------------------------------------


def test_closing_the_open_phase_marks_it_closed_early() -> None:
    state = state_in("online_study")
    closed = decide_close_phase(state, "online_study")
    assert closed.closed_early
    assert closed.phase == "online_study"
    assert not state.closed_early, "the decision returns a new state"


def test_closing_a_phase_that_is_not_open_is_refused() -> None:
    with pytest.raises(CommandRefused, match=r"^phase field_study is not open; the open phase is online_study$"):
        decide_close_phase(state_in("online_study"), "field_study")


def test_the_completion_phase_cannot_be_closed_by_hand() -> None:
    with pytest.raises(CommandRefused, match="closes by itself once credits are awarded"):
        decide_close_phase(state_in("completion"), "completion")


def test_closing_twice_is_refused() -> None:
    closing = decide_close_phase(state_in("selection"), "selection")
    with pytest.raises(CommandRefused, match=r"^phase selection is already being closed$"):
        decide_close_phase(closing, "selection")


def test_nothing_can_be_closed_once_the_cohort_has_finished() -> None:
    with pytest.raises(CommandRefused, match="has completed; no phase is open"):
        decide_close_phase(finished(), "completion")


# --- extending a deadline ----------------------------------------------------------------------


def test_extending_moves_the_deadline_and_records_both_dates() -> None:
    state = state_in("online_study")
    old = state.deadline(PROG)
    new = old + timedelta(days=7)

    extended, event = decide_extend_deadline(state, PROG, "online_study", new, "platform outage in 郴州")

    assert extended.deadline(PROG) == new
    assert event == DeadlineExtended(
        phase="online_study", previous_deadline=old, new_deadline=new, reason="platform outage in 郴州"
    )
    assert state.deadline(PROG) == old, "the decision returns a new state"


def test_an_extension_pushes_every_later_phase_back_by_as_much() -> None:
    state = state_in("online_study")
    extended, _ = decide_extend_deadline(state, PROG, "online_study", state.deadline(PROG) + timedelta(days=7), "r")
    before, after = state, extended
    for _ in range(PHASE_ORDER.index("online_study") + 1, len(PHASE_ORDER)):
        before, after = before.advanced(START), after.advanced(START)
        assert after.opens_at(PROG) == before.opens_at(PROG) + timedelta(days=7)
        assert after.deadline(PROG) == before.deadline(PROG) + timedelta(days=7)


def test_extensions_accumulate_across_phases() -> None:
    state = state_in("online_study")
    state, _ = decide_extend_deadline(state, PROG, "online_study", state.deadline(PROG) + timedelta(days=3), "r")
    state = state.advanced(START)
    assert state.opens_at(PROG) == START + timedelta(days=43)
    state, _ = decide_extend_deadline(state, PROG, "selection", state.deadline(PROG) + timedelta(hours=12), "r")
    assert state.deadline(PROG) == START + timedelta(days=48, hours=12)
    assert state.advanced(START).opens_at(PROG) == START + timedelta(days=48, hours=12)


def test_a_phase_closed_early_pushes_the_rest_back_only_by_the_extension_it_used() -> None:
    state = state_in("online_study")
    planned = state.deadline(PROG)
    extended, _ = decide_extend_deadline(state, PROG, "online_study", planned + timedelta(days=30), "late sheets")
    closing = decide_close_phase(extended, "online_study")
    next_opens = state.advanced(START).opens_at(PROG)

    two_days_late = closing.advanced(planned + timedelta(days=2), PROG)
    assert two_days_late.opens_at(PROG) == next_opens + timedelta(days=2)
    before_the_plan = closing.advanced(planned - timedelta(days=1), PROG)
    assert before_the_plan.opens_at(PROG) == next_opens
    # A phase that ran its whole extension, and cohorts recorded before this rule, move by all of it.
    assert extended.advanced(planned + timedelta(days=30), PROG).opens_at(PROG) == next_opens + timedelta(days=30)
    assert closing.advanced(planned + timedelta(days=2)).opens_at(PROG) == next_opens + timedelta(days=30)


def test_extending_does_not_move_when_the_open_phase_opened() -> None:
    # Batches and surveys are scheduled in days after their phase opens; extending the
    # phase's deadline must not move what already happened.
    state = state_in("field_study")
    opened = state.opens_at(PROG)
    extended, _ = decide_extend_deadline(state, PROG, "field_study", state.deadline(PROG) + timedelta(days=10), "r")
    assert extended.opens_at(PROG) == opened


def test_only_the_open_phase_can_be_extended() -> None:
    state = state_in("online_study")
    later = START + timedelta(days=400)
    with pytest.raises(CommandRefused, match="only the open phase's deadline can be extended; field_study is not open"):
        decide_extend_deadline(state, PROG, "field_study", later, "r")


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1), timedelta(days=-5)])
def test_the_new_deadline_must_be_later(delta: timedelta) -> None:
    state = state_in("online_study")
    with pytest.raises(CommandRefused, match="is not after the current one"):
        decide_extend_deadline(state, PROG, "online_study", state.deadline(PROG) + delta, "r")


@pytest.mark.parametrize("reason", ["", "  "])
def test_an_extension_needs_a_reason(reason: str) -> None:
    state = state_in("online_study")
    with pytest.raises(CommandRefused, match=r"^an extension needs a reason$"):
        decide_extend_deadline(state, PROG, "online_study", state.deadline(PROG) + timedelta(days=1), reason)


def test_a_phase_being_closed_early_cannot_be_extended() -> None:
    closing = decide_close_phase(state_in("online_study"), "online_study")
    with pytest.raises(CommandRefused, match="being closed early"):
        decide_extend_deadline(closing, PROG, "online_study", START + timedelta(days=400), "r")


def test_a_finished_cohort_has_no_deadline_to_extend() -> None:
    with pytest.raises(CommandRefused, match="has completed; there is no deadline to extend"):
        decide_extend_deadline(finished(), PROG, "completion", START + timedelta(days=400), "r")


# --- withdrawals -------------------------------------------------------------------------------


def capped(**caps: int) -> Programme:
    data = template()
    for pref in data["prefectures"]:
        pref["max_selected"] = caps.get(pref["code"])
    return parse_programme(data)


def cohort(withdrawn: tuple[str, ...] = ()) -> tuple[History, CohortFacts]:
    """Six nominees; P1-P3 selected, P4 and P5 waiting, P6 neither."""
    history = History()
    prefectures = {"P1": CHANGSHA, "P2": ZHUZHOU, "P3": XIANGTAN, "P4": ZHUZHOU, "P5": CHANGSHA, "P6": CHANGSHA}
    for pid, code in prefectures.items():
        history.nominate(pid, code)
    history.select(["P1", "P2", "P3"], ["P4", "P5"])
    for pid in withdrawn:
        history.add(ParticipantWithdrawn(participant_id=pid, reason="ill", phase="selection"))
    return history, history.facts()


def test_a_selected_participant_is_replaced_from_the_waiting_list_before_field_study() -> None:
    history, facts = cohort()
    events = decide_withdrawal(facts, PROG, "selection", "P1", "调任其他岗位")
    assert events == [
        ParticipantWithdrawn(participant_id="P1", reason="调任其他岗位", phase="selection"),
        WaitingListPromoted(participant_id="P4", replaces="P1"),
    ]

    for event in events:
        history.add(event)
    after = history.facts()
    assert list(after.selected) == ["P2", "P3", "P4"]
    assert list(after.waiting_list) == ["P5"]
    assert after.participants["P1"].withdrawn


@pytest.mark.parametrize("phase", ["field_study", "return_to_post", "follow_up"])
def test_no_replacement_from_the_replace_until_phase_on(phase: PhaseKind) -> None:
    _, facts = cohort()
    assert decide_withdrawal(facts, PROG, phase, "P1", "ill") == [
        ParticipantWithdrawn(participant_id="P1", reason="ill", phase=phase)
    ]


def test_replace_until_is_taken_from_the_programme() -> None:
    _, facts = cohort()
    late = programme(replace_until="follow_up")
    events = decide_withdrawal(facts, late, "return_to_post", "P1", "ill")
    assert events[-1] == WaitingListPromoted(participant_id="P4", replaces="P1")


def test_the_replacement_skips_waiting_candidates_whose_prefecture_is_full() -> None:
    # Zhuzhou is capped at 1 and P2 keeps its place, so P4 (Zhuzhou) is passed over for P5.
    _, facts = cohort()
    events = decide_withdrawal(facts, capped(**{ZHUZHOU: 1}), "selection", "P1", "ill")
    assert events[-1] == WaitingListPromoted(participant_id="P5", replaces="P1")


def test_a_place_freed_in_a_full_prefecture_can_go_to_the_same_prefecture() -> None:
    _, facts = cohort()
    events = decide_withdrawal(facts, capped(**{ZHUZHOU: 1}), "selection", "P2", "ill")
    assert events[-1] == WaitingListPromoted(participant_id="P4", replaces="P2")


def test_no_replacement_when_no_waiting_candidate_fits() -> None:
    _, facts = cohort()
    events = decide_withdrawal(facts, capped(**{ZHUZHOU: 1, CHANGSHA: 1}), "selection", "P3", "ill")
    assert events == [ParticipantWithdrawn(participant_id="P3", reason="ill", phase="selection")]


def test_an_exhausted_waiting_list_gives_no_replacement() -> None:
    _, facts = cohort(withdrawn=("P4", "P5"))
    assert list(facts.waiting_list) == []
    assert len(decide_withdrawal(facts, PROG, "selection", "P1", "ill")) == 1


@pytest.mark.parametrize("pid", ["P4", "P6"], ids=["waiting", "not-selected"])
def test_withdrawing_someone_not_selected_refills_nothing(pid: str) -> None:
    _, facts = cohort()
    assert decide_withdrawal(facts, PROG, "selection", pid, "ill") == [
        ParticipantWithdrawn(participant_id=pid, reason="ill", phase="selection")
    ]


def test_withdrawing_an_unknown_participant_is_refused() -> None:
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=r"^participant P99 is not in this cohort$"):
        decide_withdrawal(facts, PROG, "selection", "P99", "ill")


def test_withdrawing_twice_is_refused() -> None:
    _, facts = cohort(withdrawn=("P1",))
    with pytest.raises(CommandRefused, match=r"^participant P1 has already been withdrawn$"):
        decide_withdrawal(facts, PROG, "field_study", "P1", "ill")


def test_withdrawals_are_closed_in_the_completion_phase() -> None:
    _, facts = cohort()
    with pytest.raises(CommandRefused, match="withdrawals are closed"):
        decide_withdrawal(facts, PROG, "completion", "P1", "ill")


def test_a_withdrawal_needs_a_reason() -> None:
    _, facts = cohort()
    with pytest.raises(CommandRefused, match=r"^a withdrawal needs a reason$"):
        decide_withdrawal(facts, PROG, "selection", "P1", " ")
