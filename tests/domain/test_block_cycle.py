"""A block template's calendar, where imports go, and what each block decides from its records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cohortflow.domain.block_cycle import (
    BlockCycleState,
    decide_close_block,
    decide_extend_block,
    import_block,
    timeline,
)
from cohortflow.domain.block_progress import completion, credit_awards, met, reaches, replacement, selections
from cohortflow.domain.block_records import SubmissionCheck
from cohortflow.domain.block_reminders import block_reminders_due, still_to_hand_in
from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.blocks.intake import SubmissionRow
from cohortflow.domain.blocks.selection import Selection
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import (
    AnonymousAnswerRecorded,
    BlockExtended,
    CandidateNominated,
    CohortCompleted,
    Event,
    ParticipantCompleted,
    SubmissionRecorded,
)
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.template import ProgrammeTemplate, parse_template

EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"
START = datetime(2026, 3, 2, tzinfo=UTC)


def template(name: str) -> ProgrammeTemplate:
    return parse_template(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")))


def facts_of(events: Sequence[Event]) -> CohortFacts:
    facts = CohortFacts()
    for i, e in enumerate(events, start=1):
        facts.apply_event(e, i)
    return facts


def person(pid: str, track: str | None = None, level: str | None = "primary") -> CandidateNominated:
    return CandidateNominated(
        participant_id=pid,
        person_key=f"k-{pid}",
        name=pid,
        national_id="",
        gender="F",
        prefecture_code="430102",
        school="",
        role="",
        track=track,
        school_level=level,
    )


def record(block: str, kind: Any, pid: str, item: str = "", number: float | None = None, text: str = "") -> Event:
    return SubmissionRecorded(block=block, kind=kind, participant_id=pid, item=item, number=number, text=text)


def run(state: BlockCycleState, t: ProgrammeTemplate, until: str) -> BlockCycleState:
    while (step := state.next_step(t)) is not None and step.key != until:
        state = state.ran(step, state.at(step))
    return state


# ------------------------------------------------------------------ calendar
def test_the_calendar_closes_a_block_before_the_next_opens_on_the_same_day() -> None:
    steps = [s.key for s in timeline(template("placement"))]
    assert steps == [
        "open:enrolment",
        "close:enrolment",
        "open:placement",
        "close:placement",
        "open:report-back",
        "close:report-back",
        "open:follow-up",
        "close:follow-up",
        "open:completion",
        "close:completion",
    ]


def test_the_calendar_runs_every_step_once_and_is_then_finished() -> None:
    t = template("leader-programme")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:y1-selection")
    assert state.open_blocks(t) == ["y1-selection"] and not state.finished(t)
    everything = run(state, t, "never")
    assert everything.finished(t) and everything.open_blocks(t) == []
    assert sorted(everything.done) == sorted(s.key for s in timeline(t))


def test_an_early_close_comes_before_anything_else_and_names_what_is_open() -> None:
    t = template("placement")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:placement")
    with pytest.raises(CommandRefused, match="block report-back is not open \\(open now: placement\\)"):
        decide_close_block(state, t, "report-back", "early")
    with pytest.raises(CommandRefused, match="needs a reason"):
        decide_close_block(state, t, "placement", " ")
    closing = decide_close_block(state, t, "placement", "hosts ended early")
    with pytest.raises(CommandRefused, match="block placement is not open: it is closing \\(hosts ended early\\)"):
        decide_close_block(closing, t, "placement", "asked twice")
    step = closing.next_step(t)
    assert step is not None and step.key == "close:placement"
    assert closing.ran(step, START).closing == {}


def test_an_extension_moves_the_blocks_close_and_every_later_step_by_as_much() -> None:
    t = template("placement")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:placement")
    close = state.closes_at(t, "placement")
    later = close + timedelta(days=5)
    extended, event = decide_extend_block(state, t, "placement", later, "host school closed for a week")
    assert event == BlockExtended(
        block="placement", previous_close=close, new_close=later, reason="host school closed for a week"
    )
    assert extended.closes_at(t, "placement") == later
    assert extended.opens_at(t, "report-back") == state.opens_at(t, "report-back") + timedelta(days=5)
    assert extended.opens_at(t, "placement") == state.opens_at(t, "placement")  # what already ran stays put
    for step in timeline(t):
        assert extended.at(step) - state.at(step) == (timedelta(days=5) if step.day >= 42 else timedelta(0))
    before_the_deadline = [d for d in block_reminders_due(t, extended) if d.rule == "daily-log"]
    assert before_the_deadline and all(d.deadline == later for d in before_the_deadline)


def test_an_extension_is_refused_with_the_reason_and_nothing_changes() -> None:
    t = template("placement")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:placement")
    close = state.closes_at(t, "placement")
    with pytest.raises(CommandRefused, match="needs a reason"):
        decide_extend_block(state, t, "placement", close + timedelta(days=1), "")
    with pytest.raises(CommandRefused, match="block report-back is not open \\(open now: placement\\)"):
        decide_extend_block(state, t, "report-back", close + timedelta(days=1), "r")
    with pytest.raises(CommandRefused, match="is not after the current one"):
        decide_extend_block(state, t, "placement", close, "r")
    closing = decide_close_block(state, t, "placement", "done")
    with pytest.raises(CommandRefused, match="being closed early"):
        decide_extend_block(closing, t, "placement", close + timedelta(days=1), "r")


def test_a_block_closed_early_holds_the_rest_back_only_by_the_extension_it_used() -> None:
    t = template("placement")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:placement")
    close, opens = state.closes_at(t, "placement"), state.opens_at(t, "report-back")
    extended, _ = decide_extend_block(state, t, "placement", close + timedelta(days=10), "late logs")
    step = decide_close_block(extended, t, "placement", "all in").next_step(t)
    assert step is not None and step.key == "close:placement"

    two_days_late = decide_close_block(extended, t, "placement", "all in").ran(step, close + timedelta(days=2))
    assert two_days_late.opens_at(t, "report-back") == opens + timedelta(days=2)
    on_time = decide_close_block(extended, t, "placement", "all in").ran(step, close - timedelta(days=1))
    assert on_time.opens_at(t, "report-back") == opens and on_time.extensions == ()
    ran_out = extended.ran(step, close + timedelta(days=10))  # closed on its extended day: all of it used
    assert ran_out.opens_at(t, "report-back") == opens + timedelta(days=10)


def test_an_import_goes_to_the_open_block_that_takes_its_kind_or_is_refused_by_name() -> None:
    t = template("placement")
    state = run(BlockCycleState(started_at=START, day_seconds=86_400), t, "close:placement")
    assert import_block(state, t, "tasks", None) == "placement"
    with pytest.raises(
        CommandRefused, match="no open block takes return_reports files; the open blocks are: placement"
    ):
        import_block(state, t, "return_reports", None)
    with pytest.raises(CommandRefused, match="block report-back is not open; the open blocks are: placement"):
        import_block(state, t, "return_reports", "report-back")
    with pytest.raises(CommandRefused, match="block placement \\(placement\\) takes no satisfaction files"):
        import_block(state, t, "satisfaction", "placement")
    with pytest.raises(CommandRefused, match="the programme has no block nowhere"):
        import_block(state, t, "tasks", "nowhere")


# ------------------------------------------------------------------ records
def check(t: ProgrammeTemplate, facts: CohortFacts, block: str, kind: str) -> SubmissionCheck:
    found = t.block(block)
    assert found is not None
    intake = found.intake(kind)
    assert intake is not None
    return SubmissionCheck(t, facts, found, intake)


def outcome(c: SubmissionCheck, row: SubmissionRow) -> Event | list[str]:
    return c.screen(row) or c.decide(row, repeated=False)


def test_a_placement_is_matched_by_level_and_limited_by_the_hosts_capacity() -> None:
    t = template("placement")
    facts = facts_of([person(f"p{i}") for i in range(7)] + [person("s1", level="senior")])
    c = check(t, facts, "placement", "placements")
    placed = [outcome(c, SubmissionRow(i + 2, f"p{i}", "SH-PS1", None, "")) for i in range(6)]
    assert all(isinstance(p, SubmissionRecorded) for p in placed[:5])
    assert placed[5] == ["row 7, host: SH-PS1 is full (5 places)"]
    assert outcome(c, SubmissionRow(9, "s1", "SH-PS2", None, "")) == [
        "row 9, host: SH-PS2 is a primary school; the participant has senior"
    ]
    assert outcome(c, SubmissionRow(10, "nobody", "SH-PS2", None, "")) == [
        "row 10, participant_id: unknown participant 'nobody' in this cohort"
    ]


def test_groups_have_one_leader_and_a_size_limit() -> None:
    t = template("placement")
    facts = facts_of([person(f"p{i}") for i in range(7)])
    c = check(t, facts, "placement", "groups")
    assert isinstance(outcome(c, SubmissionRow(2, "p0", "G1", None, "是")), SubmissionRecorded)
    assert outcome(c, SubmissionRow(3, "p1", "G1", None, "yes")) == ["row 3, leader: group G1 already has a leader"]
    for i in range(1, 5):
        assert isinstance(outcome(c, SubmissionRow(3 + i, f"p{i}", "G1", None, "")), SubmissionRecorded)
    assert outcome(c, SubmissionRow(9, "p5", "G1", None, "")) == ["row 9, group: group G1 already has 5 people"]


def test_evaluation_scores_name_a_round_and_one_of_its_assessors_and_answers_stay_anonymous() -> None:
    t = template("leader-programme")
    evaluation = next(b for b in t.stages if b.kind == "evaluation")
    facts = facts_of([person("p1", track="key")])
    c = check(t, facts, evaluation.code, "evaluation_scores")
    problems = outcome(c, SubmissionRow(2, "p1", "nowhere/panel", 50, ""))
    assert isinstance(problems, list) and problems[0].startswith("row 2, round: 'nowhere' is not a round of")
    answers = check(t, facts, evaluation.code, "satisfaction")
    answer = outcome(answers, SubmissionRow(2, "", "", 4, "good"))
    assert isinstance(answer, AnonymousAnswerRecorded) and "participant_id" not in answer.payload()
    assert outcome(answers, SubmissionRow(3, "", "", 9, "")) == ["row 3, satisfaction: 9 is out of range 1–5"]


# ------------------------------------------------------------------ decisions
def placement_done(pid: str, *, observed: int = 56, score: float = 80) -> list[Event]:
    tasks = {"observe": observed, "demo-lesson": 2, "paper": 1, "reading-notes": 2, "lesson-design": 1, "talk": 1}
    return [
        record("placement", "placements", pid, "SH-PS1"),
        *(record("placement", "tasks", pid, code, count) for code, count in tasks.items()),
        record("placement", "tasks", pid, "school-plan", 1),
        record("placement", "tasks", pid, "summary", 1, "x" * 3000),
        record("placement", "host_assessment", pid, number=score),
        record("placement", "home_report", pid, text="report"),
    ]


def test_a_placement_is_met_by_every_task_the_assessment_and_the_report_home() -> None:
    t = template("placement")
    block = t.block("placement")
    assert block is not None
    people: list[Event] = [person("ok"), person("few"), person("low")]
    done = [*placement_done("ok"), *placement_done("few", observed=40), *placement_done("low", score=65)]
    facts = facts_of(people + done)
    assert met(t, facts.participants["ok"], block) is not None
    assert met(t, facts.participants["few"], block) is None
    assert met(t, facts.participants["low"], block) is None
    awards = list(credit_awards(t, facts, block, START))
    assert [(a.participant_id, a.phase, a.hours, a.level) for a in awards] == [("ok", "placement", 120, "city")]
    assert awards[0].earned_by == sorted(awards[0].earned_by) and len(awards[0].earned_by) == 11
    assert awards[0].earned_at == START


def test_completion_needs_every_required_block_and_totals_the_cohorts_credits() -> None:
    t = template("placement")
    final = t.block("completion")
    assert isinstance(final, Completion)
    events: list[Event] = [person("ok"), person("no-report"), *placement_done("ok"), *placement_done("no-report")]
    events.append(record("report-back", "return_reports", "ok"))
    facts = facts_of(events)
    decided = completion(t, facts, final, START)
    assert [e for e in decided if isinstance(e, ParticipantCompleted)] == [ParticipantCompleted(participant_id="ok")]
    assert decided[-1] == CohortCompleted(completed=1, credit_hours=0)


def test_a_selection_decides_each_track_by_its_own_rule_and_later_blocks_are_for_the_selected() -> None:
    t = template("leader-programme")
    selection = t.block("y1-selection")
    assert isinstance(selection, Selection)
    online = "y1-online"
    events: list[Event] = []
    for i in range(25):
        pid = f"f{i:02d}"
        events += [person(pid, track="famous"), record(online, "study_records", pid, number=40 + i)]
        events.append(record(online, "deliverables", pid, "philosophy"))
    events += [person("k1", track="key"), record(online, "study_records", "k1", number=90)]
    facts = facts_of(events)
    (decision,) = selections(t, facts, selection)
    assert decision.track == "famous" and decision.target == 20
    assert decision.selected == [f"f{i:02d}" for i in range(24, 4, -1)]
    assert decision.waiting_list == ["f04", "f03", "f02"]
    facts.apply_event(decision, 999)
    later = next(b for b in t.stages if b.applies_to("famous") and b.start_day >= selection.end_day)
    assert reaches(t, facts, facts.participants["f24"], later)
    assert not reaches(t, facts, facts.participants["f00"], later)
    assert reaches(t, facts, facts.participants["k1"], later) == later.applies_to("key")


# ------------------------------------------------------------------ reminders
def test_reminders_fire_before_a_block_closes_before_a_task_is_due_and_after_a_close() -> None:
    t = template("placement")
    day = 86_400
    state = run(BlockCycleState(started_at=START, day_seconds=day), t, "close:placement")
    due = {(d.rule, d.occurrence): (d.at - START).days for d in block_reminders_due(t, state)}
    assert due == {
        ("demo-lesson", "task:demo-lesson@20260406T000000Z-3d"): 32,
        ("demo-lesson", "task:demo-lesson@20260406T000000Z-1d"): 34,
        ("summary", "task:summary@20260413T000000Z-5d"): 37,
        ("daily-log", "placement@20260413T000000Z-7d"): 35,
    }
    closing = decide_close_block(state, t, "placement", "early")
    assert block_reminders_due(t, closing) == []  # a block being closed early is not reminded about
    follow = run(state, t, "close:follow-up")
    assert [(d.rule, (d.at - START).days) for d in block_reminders_due(t, follow)] == [("survey-m6", 222)]


def test_a_reminder_goes_to_whoever_has_not_handed_in_what_it_is_about() -> None:
    t = template("placement")
    assert t.reminders is not None
    rules = {r.code: r for r in t.reminders.rules}
    facts = facts_of([person("ok"), person("short"), person("none"), *placement_done("ok")])
    facts.apply_event(record("placement", "tasks", "short", "demo-lesson", 1), 900)
    assert still_to_hand_in(t, facts, rules["demo-lesson"]) == ["none", "short"]
    assert still_to_hand_in(t, facts, rules["daily-log"]) == ["none", "ok", "short"]
    facts.apply_event(record("report-back", "return_reports", "ok"), 901)
    assert still_to_hand_in(t, facts, rules["report-back"]) == ["none", "short"]


def test_a_withdrawn_place_is_refilled_from_the_tracks_waiting_list_until_the_named_block_opens() -> None:
    data = yaml.safe_load((EXAMPLES / "leader-programme.yaml").read_text(encoding="utf-8"))
    next(s for s in data["stages"] if s["code"] == "y1-selection")["replace_until"] = "y1-residential"
    t = parse_template(data)
    selection = t.block("y1-selection")
    assert isinstance(selection, Selection)
    events: list[Event] = []
    for i in range(25):
        pid = f"f{i:02d}"
        events += [person(pid, track="famous"), record("y1-online", "study_records", pid, number=40 + i)]
        events.append(record("y1-online", "deliverables", pid, "philosophy"))
    facts = facts_of(events)
    (decision,) = selections(t, facts, selection)
    facts.apply_event(decision, 999)
    opened = ["enrolment", "y1-online", "y1-selection"]
    assert replacement(t, facts, "f24", opened) == "f04"  # the first of the waiting list
    assert replacement(t, facts, "f00", opened) is None  # not selected: no place to refill
    assert replacement(t, facts, "f24", [*opened, "y1-residential"]) is None  # too late
