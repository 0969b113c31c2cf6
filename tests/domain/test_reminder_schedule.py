"""When reminder rules fire: occurrences before the open phase's deadline and after closed phases, earliest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.domain.cycle import CycleState, decide_close_phase, decide_extend_deadline
from cohortflow.domain.messages import MessageTemplate, MessageText
from cohortflow.domain.programme import PHASE_ORDER, PhaseKind, Programme, parse_programme
from cohortflow.domain.reminder_rules import AfterPhase, BeforeDeadline, Coordinator, ReminderRule, Reminders, Weekly
from cohortflow.domain.reminder_schedule import ReminderDue, reminders_due

from .builders import CHANGSHA, template
from .builders import programme as plain_programme

START = datetime(2024, 3, 1, tzinfo=UTC)
DAY = 86_400.0

# The small test programme's calendar (days from the start): nomination 0-10, online_study 10-40,
# selection 40-45, field_study 45-75, return_to_post 75-105, follow_up 105-200, completion 200-201;
# survey m1 is sent on day 105 + 30 = 135.

TEXT = MessageText(subject="{programme}", body="{name}")
RULES = (
    ReminderRule(
        code="hours",
        template="p",
        audience="under_required_hours",
        before=BeforeDeadline(phase="online_study", days=(1, 7)),  # listed latest first on purpose
    ),
    ReminderRule(
        code="report",
        template="p",
        audience="return_report_pending",
        before=BeforeDeadline(phase="return_to_post", days=(3,)),
    ),
    ReminderRule(
        code="field",
        template="p",
        audience="return_report_pending",
        after=AfterPhase(phase="field_study", days=(7,)),
    ),
    ReminderRule(
        code="m1",
        template="p",
        audience="survey_pending",
        survey="m1",
        after=AfterPhase(phase="return_to_post", days=(30,), nudges=2, nudge_every_days=7),
    ),
    ReminderRule(code="weekly", template="c", audience="coordinators", weekly=Weekly(weekday=3)),
)


def with_rules(*rules: ReminderRule, checked: bool = True) -> Programme:
    reminders = Reminders(
        rules=rules,
        templates=(MessageTemplate(code="p", zh=TEXT, en=TEXT), MessageTemplate(code="c", zh=TEXT, en=TEXT)),
        coordinators=(Coordinator(prefecture=CHANGSHA, name="长沙市项目办"),),
    )
    data: dict[str, Any] = {**template(), "reminders": reminders.model_dump(mode="json")}
    return parse_programme(data) if checked else Programme.model_validate(data)


PROG = with_rules(*RULES)


def started(day_seconds: float = DAY) -> CycleState:
    return CycleState(started_at=START, day_seconds=day_seconds)


def reach(phase: PhaseKind, state: CycleState | None = None, programme: Programme = PROG) -> CycleState:
    """Advance to ``phase``, each earlier phase closing on its deadline."""
    state = state or started()
    while state.phase != phase:
        state = state.advanced(state.deadline(programme))
    return state


def at_day(days: float) -> datetime:
    return START + timedelta(days=days)


def before(rule: str, occurrence: str, day: float, deadline_day: float, days: int) -> ReminderDue:
    return ReminderDue(rule=rule, occurrence=occurrence, at=at_day(day), deadline=at_day(deadline_day), days=days)


def after(rule: str, occurrence: str, at: datetime, days: int) -> ReminderDue:
    return ReminderDue(rule=rule, occurrence=occurrence, at=at, days=days)


# --- before a deadline -------------------------------------------------------------------------


def test_before_the_open_phase_s_deadline_one_occurrence_per_day_listed_earliest_first() -> None:
    assert reminders_due(PROG, reach("online_study")) == [
        before("hours", "online_study@20240410T000000Z-7d", day=33, deadline_day=40, days=7),
        before("hours", "online_study@20240410T000000Z-1d", day=39, deadline_day=40, days=1),
    ]


def test_rules_for_a_phase_not_yet_open_or_already_closed_are_not_scheduled() -> None:
    assert reminders_due(PROG, started()) == []  # nomination: online study is still to come
    assert reminders_due(PROG, reach("selection")) == []  # online study has closed; no rule follows it
    assert [d.rule for d in reminders_due(PROG, reach("online_study"))] == ["hours", "hours"]  # not "report"


def test_a_phase_being_closed_early_has_no_deadline_reminders() -> None:
    closing = decide_close_phase(reach("online_study"), "online_study")
    assert reminders_due(PROG, closing) == []


def test_closing_early_keeps_reminders_after_phases_already_closed() -> None:
    state = reach("return_to_post")
    assert [d.rule for d in reminders_due(PROG, state)] == ["field", "report"]
    closing = decide_close_phase(state, "return_to_post")
    assert reminders_due(PROG, closing) == [after("field", "field_study+7d", at_day(75 + 7), 7)]


def test_an_extension_moves_the_reminders_and_gives_them_new_names() -> None:
    state = reach("online_study")
    first = reminders_due(PROG, state)
    extended, _ = decide_extend_deadline(state, PROG, "online_study", at_day(45), "平台故障")
    moved = reminders_due(PROG, extended)
    assert moved == [
        before("hours", "online_study@20240415T000000Z-7d", day=38, deadline_day=45, days=7),
        before("hours", "online_study@20240415T000000Z-1d", day=44, deadline_day=45, days=1),
    ]
    assert {d.occurrence for d in moved}.isdisjoint(d.occurrence for d in first)
    again, _ = decide_extend_deadline(extended, PROG, "online_study", at_day(45) + timedelta(hours=6), "再延期")
    assert [d.occurrence for d in reminders_due(PROG, again)] == [
        "online_study@20240415T060000Z-7d",
        "online_study@20240415T060000Z-1d",
    ]


def test_an_extension_in_an_earlier_phase_moves_later_deadlines_too() -> None:
    online = reach("online_study")
    extended, _ = decide_extend_deadline(online, PROG, "online_study", at_day(43), "r")
    state = reach("return_to_post", extended)
    assert reminders_due(PROG, state) == [
        after("field", "field_study+7d", at_day(78 + 7), 7),
        before("report", "return_to_post@20240617T000000Z-3d", day=105, deadline_day=108, days=3),
    ]


def test_nothing_is_scheduled_before_the_phase_opens() -> None:
    # The checks refuse a reminder as long as the phase; the schedule drops any before the opening regardless.
    rule = ReminderRule(
        code="hours",
        template="p",
        audience="under_required_hours",
        before=BeforeDeadline(phase="online_study", days=(31, 30, 29)),
    )
    programme = with_rules(rule, checked=False)
    due = reminders_due(programme, reach("online_study", programme=programme))
    assert [(d.days, d.at) for d in due] == [(30, at_day(10)), (29, at_day(11))]  # opening exactly is kept
    assert all(d.at >= reach("online_study").opens_at(programme) for d in due)


def test_a_compressed_calendar_compresses_the_reminders() -> None:
    state = reach("online_study", started(day_seconds=2))
    due = reminders_due(PROG, state)
    assert [(d.at - START).total_seconds() for d in due] == [66, 78]  # 33 and 39 short days
    assert [d.occurrence for d in due] == ["online_study@20240301T000120Z-7d", "online_study@20240301T000120Z-1d"]


# --- after a phase closed ----------------------------------------------------------------------


def test_after_a_phase_counts_from_when_it_actually_closed() -> None:
    state = reach("field_study")
    closed = at_day(70) + timedelta(hours=5)  # closed early, five days before its deadline
    state = decide_close_phase(state, "field_study").advanced(closed)
    assert state.closed_at["field_study"] == closed
    field = [d for d in reminders_due(PROG, state) if d.rule == "field"]
    assert field == [after("field", "field_study+7d", closed + timedelta(days=7), 7)]
    assert field[0].deadline is None


def test_nudges_repeat_the_reminder_under_their_own_names() -> None:
    closed = at_day(104)
    state = reach("return_to_post").advanced(closed)
    assert state.phase == "follow_up"
    assert reminders_due(PROG, state) == [
        after("field", "field_study+7d", at_day(82), 7),
        after("m1", "return_to_post+30d", closed + timedelta(days=30), 30),
        after("m1", "return_to_post+30d-nudge1", closed + timedelta(days=37), 30),
        after("m1", "return_to_post+30d-nudge2", closed + timedelta(days=44), 30),
    ]


def test_each_day_after_a_phase_gets_its_own_occurrences() -> None:
    rule = ReminderRule(
        code="later",
        template="p",
        audience="return_report_pending",
        after=AfterPhase(phase="field_study", days=(30, 7), nudges=1, nudge_every_days=3),
    )
    programme = with_rules(rule)
    due = reminders_due(programme, reach("return_to_post", programme=programme))
    assert [(d.occurrence, d.at, d.days) for d in due] == [
        ("field_study+7d", at_day(82), 7),
        ("field_study+7d-nudge1", at_day(85), 7),
        ("field_study+30d", at_day(105), 30),
        ("field_study+30d-nudge1", at_day(108), 30),
    ]


def test_a_finished_cohort_has_no_deadline_left() -> None:
    state = reach("completion").advanced(at_day(200))
    assert state.finished
    due = reminders_due(PROG, state)
    assert due, "occurrences after closed phases are still listed; the cycle stops asking once finished"
    assert all(d.deadline is None for d in due)


# --- ordering and what is not scheduled here ---------------------------------------------------


def test_occurrences_are_sorted_by_time_whatever_the_order_of_the_rules() -> None:
    due = reminders_due(PROG, reach("return_to_post"))
    assert [r.code for r in PROG.reminders.rules][1:3] == ["report", "field"]  # type: ignore[union-attr]
    assert due == [
        after("field", "field_study+7d", at_day(82), 7),
        before("report", "return_to_post@20240614T000000Z-3d", day=102, deadline_day=105, days=3),
    ]


def test_occurrences_at_the_same_moment_are_ordered_by_rule_then_occurrence() -> None:
    def rule(code: str, days: tuple[int, ...]) -> ReminderRule:
        return ReminderRule(
            code=code, template="p", audience="return_report_pending", after=AfterPhase(phase="field_study", days=days)
        )

    programme = with_rules(rule("b", (7,)), rule("a", (7,)), rule("c", (3,)))
    due = reminders_due(programme, reach("return_to_post", programme=programme))
    assert [(d.rule, d.at) for d in due] == [("c", at_day(78)), ("a", at_day(82)), ("b", at_day(82))]


def test_weekly_digests_are_left_to_their_schedules() -> None:
    weekly = with_rules(RULES[4])
    for phase in PHASE_ORDER:
        assert reminders_due(weekly, reach(phase, programme=weekly)) == []


def test_a_programme_without_reminders_schedules_nothing() -> None:
    programme = plain_programme()
    assert programme.reminders is None
    assert reminders_due(programme, reach("online_study", programme=programme)) == []


@settings(max_examples=100, deadline=None)
@given(
    days=st.lists(st.integers(1, 29), min_size=1, max_size=5, unique=True),
    extension=st.integers(0, 20 * 86_400),
)
def test_deadline_occurrences_lie_inside_the_phase_and_are_named_by_their_deadline(
    days: list[int], extension: int
) -> None:
    rule = ReminderRule(
        code="hours",
        template="p",
        audience="under_required_hours",
        before=BeforeDeadline(phase="online_study", days=tuple(days)),
    )
    programme = with_rules(rule)
    state = reach("online_study", programme=programme)
    if extension:
        state, _ = decide_extend_deadline(
            state, programme, "online_study", state.deadline(programme) + timedelta(seconds=extension), "r"
        )
    deadline, opens = state.deadline(programme), state.opens_at(programme)
    due = reminders_due(programme, state)
    assert sorted(d.days for d in due) == sorted(days)
    assert due == sorted(due, key=lambda d: d.at)
    stamp = deadline.strftime("%Y%m%dT%H%M%SZ")
    for d in due:
        assert opens <= d.at < deadline
        assert d.at == deadline - timedelta(days=d.days)
        assert d.deadline == deadline
        assert d.occurrence == f"online_study@{stamp}-{d.days}d"
    assert len({d.occurrence for d in due}) == len(due)


# --- the cycle state remembers when each phase closed ------------------------------------------


def test_advancing_records_when_the_phase_closed_and_keeps_earlier_closings() -> None:
    state = started()
    assert state.closed_at == {}
    one = state.advanced(at_day(9))
    two = one.advanced(at_day(41))
    assert one.closed_at == {"nomination": at_day(9)}
    assert two.closed_at == {"nomination": at_day(9), "online_study": at_day(41)}
    assert state.closed_at == {} and one.closed_at == {"nomination": at_day(9)}, "earlier states are untouched"


def test_every_phase_closing_is_recorded_by_the_end() -> None:
    state = reach("completion").advanced(at_day(200))
    assert list(state.closed_at) == list(PHASE_ORDER)
    assert state.closed_at["follow_up"] == at_day(200)  # closed on its deadline by reach()


def test_closing_times_survive_a_round_trip_and_older_states_have_none() -> None:
    state = reach("follow_up")
    assert CycleState.model_validate_json(state.model_dump_json()) == state
    older = {"started_at": START.isoformat(), "day_seconds": DAY, "phase_index": 3}
    assert CycleState.model_validate(older).closed_at == {}
