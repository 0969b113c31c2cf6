"""Block templates: every example validates, each contradiction is named, all of them at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.phase_template import as_blocks
from cohortflow.domain.programme import ProgrammeInvalid, parse_programme
from cohortflow.domain.template import (
    ProgrammeTemplate,
    is_block_template,
    parse_template,
    template_problems,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"
Template = dict[str, Any]


def example(name: str) -> Template:
    data: Template = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def problems_of(data: object) -> list[str]:
    with pytest.raises(ProgrammeInvalid) as caught:
        parse_template(data)
    return caught.value.problems


def changed(name: str, change: Callable[[Template], None]) -> Template:
    data = copy.deepcopy(example(name))
    change(data)
    return data


def stage(data: Template, code: str) -> dict[str, Any]:
    return next(s for s in data["stages"] if s["code"] == code)


# ------------------------------------------------------------------ examples
@pytest.mark.parametrize("name", ["placement", "qualification", "leader-programme"])
def test_every_block_example_is_valid_and_round_trips(name: str) -> None:
    template = parse_template(example(name))
    assert template_problems(template) == []
    assert parse_template(template.template()) == template
    assert is_block_template(example(name))


def test_the_seven_phase_example_is_the_sample_programme_and_stays_seven_phase() -> None:
    data = example("guopei-party-secretary")
    assert not is_block_template(data)
    assert parse_programme(data) == sample_programme(reminders=True)


def test_the_sample_programme_keeps_its_recorded_digest() -> None:
    # Recorded in CohortStarted events and in the replay histories: a change here re-digests old cohorts.
    assert sample_programme().digest == "9a509b74bbae5b80f23a73c4baac34e816d1fa7fdc6b40332b25962e2c587d53"


def test_a_seven_phase_template_reads_as_valid_blocks() -> None:
    programme = sample_programme()
    blocks = as_blocks(programme)
    assert template_problems(blocks) == []
    assert [b.kind for b in blocks.stages] == [
        "enrolment",
        "online_study",
        "selection",
        "residential_study",
        "return_to_post",
        "follow_up",
        "completion",
    ]
    assert blocks.candidates == programme.candidates == 5000
    assert blocks.headcount(blocks.stages[3]) == programme.selection.target
    assert {b.code: b.credits.hours for b in blocks.stages if b.credits} == {
        c.phase: c.hours for c in programme.credits
    }


def test_the_leader_programme_counts_who_reaches_each_block() -> None:
    template = parse_template(example("leader-programme"))
    residential, placement = template.block("y1-residential"), template.block("y3-placement")
    assert residential is not None and placement is not None
    assert template.candidates == 200
    assert template.headcount(residential) == 20 + 100 + 70  # the famous track after its selection
    assert template.headcount(placement) == 20
    assert template.year_window(3) == (730, 1095)
    assert template.year_window(5) is None


def test_submissions_say_what_each_block_accepts() -> None:
    template = parse_template(example("placement"))
    placement = template.block("placement")
    assert placement is not None
    assert {"task:demo-lesson", "daily_log", "host_assessment", "home_report"} <= placement.submissions()
    report = template.block("report-back")
    assert report is not None and report.submissions() == {"return_reports"}


# ------------------------------------------------------------ contradictions
def test_every_contradiction_is_listed_at_once() -> None:
    def contradict(data: Template) -> None:
        placement = stage(data, "placement")
        placement["tasks"][1]["due_after_days"] = 40  # block is 28 days long
        placement["hosts"][0]["mentors"] = 0  # 15 mentors for 20 people
        placement["hosts"][1]["capacity"] = 1  # hosts hold 16
        data["tracks"][0]["quota"] = 25  # prefecture quotas add up to 20
        stage(data, "report-back")["start_day"] = 40  # overlaps the placement
        stage(data, "enrolment")["credits"] = {"hours": 5, "level": "school"}

    problems = problems_of(changed("placement", contradict))
    assert problems == [
        "track principals: prefecture quotas add up to 20, but the track's quota is 25",
        "track principals: blocks placement (days 14–42) and report-back (days 40–72) overlap",
        "block enrolment (enrolment): a enrolment block grants no credits; remove its credits",
        "block placement (placement): host schools hold 16 people, fewer than the 25 to be placed",
        "block placement (placement): the hosts provide 15 mentors for 25 participants; each needs one",
        "block placement (placement): task demo-lesson: due on day 54, outside the block (days 14–42)",
    ]


def test_a_calendar_due_date_is_placed_by_starts_on() -> None:
    def late(data: Template) -> None:
        stage(data, "placement")["tasks"][4]["due_date"] = "2026-05-01"

    assert problems_of(changed("placement", late)) == [
        "block placement (placement): task reading-notes: due on day 60, outside the block (days 14–42)"
    ]

    def undated(data: Template) -> None:
        del data["starts_on"]

    assert problems_of(changed("placement", undated)) == [
        "block placement (placement): task reading-notes: a calendar due_date needs the template's starts_on"
    ]


def test_track_quotas_and_selection_rules_are_checked_per_track() -> None:
    def contradict(data: Template) -> None:
        data["tracks"][0]["selection"]["target"] = 40  # above the track's 30
        data["tracks"][2]["prefectures"][1]["min_selected"] = 60  # above its quota of 50
        data["tracks"][1]["prefectures"][0]["prefecture"] = "430199"
        stage(data, "y1-selection")["tracks"] = ["famous", "key"]  # key has no rule of its own

    problems = problems_of(changed("leader-programme", contradict))
    assert problems == [
        "track key: prefecture 430199 is not one of the programme's prefectures",
        "track rural: prefecture 430121: min_selected must lie between 0 and its quota 50",
        "block y1-selection (selection), track famous: selection target 40 is above the 30 people who reach it",
        "block y1-selection (selection), track key: no selection rule; give the block a rule or the track its own",
        # 40 selected famous candidates outgrow every later block of their track
        "block y1-residential (residential_study): batches hold 200 people, fewer than the 210 who reach it",
        "block y2-visit (residential_study): batches hold 200 people, fewer than the 210 who reach it",
        "block y3-placement (placement): host schools hold 20 people, fewer than the 40 to be placed",
        "block y3-placement (placement): the hosts provide 20 mentors for 40 participants; each needs one",
        "block y4-residential (residential_study): batches hold 200 people, fewer than the 210 who reach it",
    ]


def test_years_and_evaluations_must_fit_the_programme() -> None:
    def contradict(data: Template) -> None:
        stage(data, "y4-evaluation")["rounds"][0]["day"] = 1500  # the programme ends on day 1460
        stage(data, "y2-evaluation")["rounds"][0]["end_of_year"] = 6
        stage(data, "y2-visit")["year"] = 1
        data["years"][3]["theme"] = " "

    problems = problems_of(changed("leader-programme", contradict))
    assert problems == [
        "year 4 needs a theme",
        "block y2-visit (residential_study): days 365–395 fall outside year 1 (days 0–365)",
        "block y2-evaluation (evaluation): round mid: year 6 is not one of the programme's years",
        "block y4-evaluation (evaluation): round final: on day 1500, after the programme ends on day 1460",
    ]


def test_enrolment_and_completion_bracket_every_track() -> None:
    def contradict(data: Template) -> None:
        data["stages"] = [s for s in data["stages"] if s["kind"] != "completion"]
        data["stages"][1]["start_day"] = 3  # online study now opens inside enrolment's window

    problems = problems_of(changed("qualification", contradict))
    assert problems == [
        "track new-principals: needs exactly one completion block, last",
        "track new-principals: blocks enrolment (days 0–7) and online (days 3–97) overlap",
    ]


def test_completion_requires_blocks_with_a_criterion_that_have_closed() -> None:
    def contradict(data: Template) -> None:
        stage(data, "completion")["requires"] = ["enrolment", "nowhere", "online"]
        stage(data, "completion")["start_day"] = 90
        stage(data, "completion")["end_day"] = 500
        stage(data, "practice")["end_day"] = 600

    problems = problems_of(changed("qualification", contradict))
    assert "block completion (completion): requires enrolment, a enrolment block, which has no criterion to meet" in (
        problems
    )
    assert "block completion (completion): requires unknown block 'nowhere'" in problems
    assert "block completion (completion): requires online, which is still open when completion starts" in problems
    assert "block completion (completion): completion must be the last block to close" in problems


def test_the_shape_is_checked_before_the_meaning() -> None:
    def bad_kind(data: Template) -> None:
        data["stages"][1]["kind"] = "orientation"
        data["stages"][2]["sites"][0]["batches"][0]["capacity"] = "many"

    problems = problems_of(changed("qualification", bad_kind))
    assert problems[0].startswith("stages.1: Input tag 'orientation' found using 'kind' does not match")
    assert problems[1].startswith("stages.2.residential_study.sites.0.batches.0.capacity:")
    assert len(problems) == 2


def test_the_json_schema_names_every_block_kind() -> None:
    schema = ProgrammeTemplate.model_json_schema()
    mapping = schema["properties"]["stages"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "enrolment",
        "online_study",
        "selection",
        "residential_study",
        "placement",
        "return_to_post",
        "evaluation",
        "follow_up",
        "completion",
    }


# ----------------------------------------------------------------- properties
@st.composite
def block_templates(draw: st.DrawFn) -> Template:
    """A valid template: enrolment, then 1–6 blocks of the other kinds one after another, then completion."""
    quota = draw(st.integers(1, 300))
    day = draw(st.integers(1, 30))
    stages: list[dict[str, Any]] = [{"kind": "enrolment", "code": "enrol", "start_day": 0, "end_day": day}]
    kinds = draw(
        st.lists(
            st.sampled_from(["online_study", "residential_study", "placement", "return_to_post", "follow_up"]),
            min_size=1,
            max_size=6,
        )
    )
    for i, kind in enumerate(kinds):
        length = draw(st.integers(1, 400))
        block: dict[str, Any] = {"kind": kind, "code": f"b{i}", "start_day": day, "end_day": day + length}
        if kind == "residential_study":
            block["sites"] = [
                {
                    "code": "S",
                    "name": "站点",
                    "batches": [{"code": "B", "capacity": quota, "start_day": 0, "days": length}],
                }
            ]
        elif kind == "placement":
            block["hosts"] = [
                {"code": "H", "name": "学校", "school_level": "primary", "capacity": quota, "mentors": quota}
            ]
            block["tasks"] = [{"code": "t", "name": "任务", "due_after_days": draw(st.integers(0, length))}]
        elif kind == "follow_up":
            block["surveys"] = [{"code": "s", "after_days": draw(st.integers(0, length))}]
        if draw(st.booleans()):
            block["credits"] = {
                "hours": draw(st.integers(1, 200)),
                "level": draw(st.sampled_from(["province", "city", "district", "school"])),
            }
        stages.append(block)
        day += length + draw(st.integers(0, 30))
    stages.append(
        {
            "kind": "completion",
            "code": "done",
            "start_day": day,
            "end_day": day + 1,
            "requires": [f"b{i}" for i in range(len(kinds))],
        }
    )
    return {
        "id": "generated",
        "version": 1,
        "name": "生成的项目",
        "kind": "thematic",
        "tracks": [{"code": "main", "name": "主线", "quota": quota}],
        "stages": stages,
    }


@settings(max_examples=150, deadline=None)
@given(block_templates())
def test_generated_templates_are_valid(data: Template) -> None:
    assert template_problems(parse_template(data)) == []


@settings(max_examples=150, deadline=None)
@given(block_templates(), st.data())
def test_a_block_moved_onto_its_neighbour_is_named_with_every_other_problem(
    data: Template, draw: st.DataObject
) -> None:
    stages = data["stages"]
    i = draw.draw(st.integers(1, len(stages) - 1))
    stages[i]["start_day"] = stages[i - 1]["end_day"] - 1
    data["version"] = 0
    problems = problems_of(data)
    assert "version must be 1 or more" in problems
    assert any(f" and {stages[i]['code']} (days" in p and p.endswith("overlap") for p in problems)


def test_each_block_kind_checks_its_own_settings() -> None:
    def contradict(data: Template) -> None:
        online = stage(data, "online")
        online["required_deliverables"] = ["school-diagnosis", "essay"]
        online["funding"] = [{"item": " ", "payer": "county"}]
        batches = stage(data, "residential")["sites"][0]["batches"]
        batches[1]["start_day"] = 5  # overlaps B1 (days 0–12)
        batches.append({"code": "B3", "capacity": 5, "start_day": 25, "days": 10})  # past the 30-day block
        data["stages"].insert(
            4,
            {
                "kind": "selection",
                "code": "pick",
                "start_day": 187,
                "end_day": 187,
                "scores_from": "residential",
                "rule": {"target": 10},
            },
        )
        done = stage(data, "completion")
        done["start_day"], done["end_day"] = 190, 191

    problems = problems_of(changed("qualification", contradict))
    assert problems == [
        "block online (online_study): a funding line needs an item",
        "block pick (selection): end_day 187 must come after start_day 187 (≥ 0)",
        "block online (online_study): required deliverable 'essay' is not one of its deliverables",
        "block residential (residential_study): site CS batch B3 runs past the end of the block",
        "block residential (residential_study): site CS: batches B1 and B2 overlap",
        "block pick (selection): scores_from 'residential' is not an online-study block",
    ]


def test_follow_up_surveys_and_evaluation_rounds_sit_inside_their_block() -> None:
    def contradict(data: Template) -> None:
        stage(data, "follow-up")["surveys"][1]["after_days"] = 200  # the block is 180 days long
        data["stages"].insert(
            4,
            {
                "kind": "evaluation",
                "code": "review",
                "start_day": 252,
                "end_day": 260,
                "rounds": [
                    {"code": "r1", "day": 253, "end_of_year": 1, "assessors": ["专家组"]},
                    {"code": "r2", "day": 300, "assessors": [], "pass_mark": 120},
                ],
            },
        )
        done = stage(data, "completion")
        done["start_day"], done["end_day"] = 260, 261

    problems = problems_of(changed("placement", contradict))
    assert problems == [
        "block follow-up (follow_up): survey m6: after_days 200 falls outside the block",
        "block review (evaluation): round r1: give exactly one of day and end_of_year",
        "block review (evaluation): round r2: on day 300, after the programme ends on day 261",
        "block review (evaluation): round r2: names no assessors",
        "block review (evaluation): round r2: pass_mark 120 must lie between 0 and max_score 100",
    ]


def test_reminder_rules_ask_only_for_what_their_block_takes_within_it() -> None:
    def contradict(data: Template) -> None:
        rules = data["reminders"]["rules"]
        rules[0]["about"] = "attendance"  # a residential-study record; the placement takes none
        rules[1]["about"] = "task:observe"  # counted per day, with no due date
        rules[2]["before_close"] = [28]  # the placement lasts 28 days
        rules[3]["after_close"] = [200]  # with before_close too, and past the programme's end
        rules[4]["block"] = "nowhere"
        rules.append({"code": "bad code", "template": "missing", "block": "placement", "about": "daily_log"})

    problems = problems_of(changed("placement", contradict))
    assert problems == [
        "reminder rule demo-lesson: block placement (placement) takes no 'attendance' while it is open "
        "(it takes daily_log, groups, home_report, host_assessment, mentors, placements, task:demo-lesson, "
        "task:lesson-design, task:observe, task:paper, task:reading-notes, task:school-plan, task:summary, task:talk)",
        "reminder rule summary: before_due needs a task with a due date, and 'task:observe' has none",
        "reminder rule daily-log: 28 days before placement closes falls outside the block (28 days)",
        "reminder rule report-back: needs days in exactly one of before_close, after_close or before_due, got 2",
        "reminder rule report-back: day 272 of the programme falls after it ends on day 253",
        "reminder rule survey-m6: block 'nowhere' does not exist",
        "reminder rule bad code: a code may hold only letters, digits, '.', '_' and '-'",
        "reminder rule bad code: message template 'missing' does not exist",
        "reminder rule bad code: needs days in exactly one of before_close, after_close or before_due, got 0",
    ]


def test_a_task_reminder_must_come_after_the_block_opens() -> None:
    def early(data: Template) -> None:
        data["reminders"]["rules"][0]["before_due"] = [22]  # demo lesson due 21 days after the block opens

    assert problems_of(changed("placement", early)) == [
        "reminder rule demo-lesson: 22 days before demo-lesson is due (day 35) falls outside placement"
    ]


def test_the_template_guide_describes_every_block_kind() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "programmes.md").read_text(encoding="utf-8")
    mapping = ProgrammeTemplate.model_json_schema()["properties"]["stages"]["items"]["discriminator"]["mapping"]
    assert {kind for kind in mapping if f"\n### {kind}\n" not in guide} == set()
