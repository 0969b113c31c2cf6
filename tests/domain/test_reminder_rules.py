"""Reminder rules in a programme template: their shape, every problem in their meaning, and the digest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cohortflow.demo.sample import sample_programme
from cohortflow.domain.canonical import digest
from cohortflow.domain.messages import PLACEHOLDERS
from cohortflow.domain.programme import Programme, ProgrammeInvalid, parse_programme, programme_problems
from cohortflow.domain.quiet_hours import QuietHours
from cohortflow.domain.reminder_rules import (
    MAX_NUDGES,
    AfterPhase,
    BeforeDeadline,
    Coordinator,
    ReminderRule,
    Reminders,
    Weekly,
)

from .builders import programme as small_programme

Section = dict[str, Any]
CHANGSHA, CHENZHOU = "430100", "431000"
PARTICIPANT_NAMES = ", ".join(sorted(PLACEHOLDERS["participants"]))
COORDINATOR_NAMES = ", ".join(sorted(PLACEHOLDERS["coordinators"]))

# The sample programme's calendar (days from the start), which the limits below follow:
# online_study 30-120 (90 days), field_study 134-194, return_to_post 194-284, follow_up 284-1014,
# completion 1014-1015; survey m1 is sent on day 284 + 30 = 314.


def section() -> Section:
    """A valid reminders section for the sample programme: one rule of each kind."""

    def text(subject: str, body: str) -> dict[str, str]:
        return {"subject": subject, "body": body}

    return {
        "time_zone": "Asia/Shanghai",
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "rules": [
            {
                "code": "study-hours",
                "template": "study",
                "audience": "under_required_hours",
                "before": {"phase": "online_study", "days": [7, 1]},
            },
            {
                "code": "plan",
                "template": "deliverable",
                "audience": "missing_deliverable",
                "deliverable": "improvement_plan",
                "before": {"phase": "online_study", "days": [3]},
            },
            {
                "code": "report",
                "template": "report",
                "audience": "return_report_pending",
                "channel": "webhook",
                "before": {"phase": "return_to_post", "days": [14, 3]},
            },
            {
                "code": "survey-m1",
                "template": "survey",
                "audience": "survey_pending",
                "survey": "m1",
                "after": {"phase": "field_study", "days": [120], "nudges": 2, "nudge_every_days": 7},
            },
            {
                "code": "weekly",
                "template": "digest",
                "audience": "coordinators",
                "weekly": {"weekday": 1, "at": "09:00"},
            },
        ],
        "templates": [
            {
                "code": "study",
                "zh": text(
                    "【{programme}】学时提醒", "{name}老师：已学{hours}学时，还差{missing_hours}，{deadline}截止。"
                ),
                "en": text("{programme}: study hours", "Dear {name}, {missing_hours} hours to go by {deadline}."),
            },
            {
                "code": "deliverable",
                "zh": text("作业提醒", "{name}老师：请于{deadline}前提交“{deliverable}”。"),
                "en": text("{deliverable}", "Dear {name}, please hand in {deliverable} by {deadline}."),
            },
            {
                "code": "report",
                "zh": text("返岗报告", "{name}老师：返岗实践报告{days_left}天后截止。"),
                "en": text("Return report", "Dear {name}, your report is due in {days_left} days."),
            },
            {
                "code": "survey",
                "zh": text("跟踪问卷", "{name}老师：请填写问卷{survey}。"),
                "en": text("Follow-up survey", "Dear {name}, please answer survey {survey}."),
            },
            {
                "code": "digest",
                "zh": text("{prefecture}周报（{week}）", "推荐{nominated}人，入选{selected}人，结业{completed}人。"),
                "en": text("{prefecture} weekly ({week})", "{nominated} nominated, {selected} selected."),
            },
        ],
        "coordinators": [
            {"prefecture": CHANGSHA, "name": "长沙市项目办", "email": "cs@example.org"},
            {"prefecture": CHENZHOU, "name": "郴州市项目办", "phone": "+8613800000000", "time_zone": "Asia/Shanghai"},
        ],
    }


def with_section(reminders: Section | None) -> dict[str, Any]:
    data = sample_programme().model_dump(mode="json")
    data["reminders"] = reminders
    return data


def changed(change: Callable[[Section], object]) -> dict[str, Any]:
    s = section()
    change(s)
    return with_section(s)


def problems_of(data: object) -> list[str]:
    with pytest.raises(ProgrammeInvalid) as caught:
        parse_programme(data)
    return caught.value.problems


def _set(path: str, value: object) -> Callable[[Section], None]:
    """Set ``path`` (dotted, list indices as numbers) inside the reminders section."""

    def change(s: Section) -> None:
        *parents, last = path.split(".")
        node: Any = s
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _del(path: str) -> Callable[[Section], None]:
    def change(s: Section) -> None:
        *parents, last = path.split(".")
        node: Any = s
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


def _append_copy(kind: str, index: int) -> Callable[[Section], None]:
    return lambda s: s[kind].append(copy.deepcopy(s[kind][index]))


# --- a valid section ---------------------------------------------------------------------------


def test_a_valid_section_parses_and_keeps_its_rules() -> None:
    programme = parse_programme(with_section(section()))
    assert programme_problems(programme) == []
    reminders = programme.reminders
    assert reminders is not None
    assert [r.code for r in reminders.rules] == ["study-hours", "plan", "report", "survey-m1", "weekly"]
    assert programme.reminder_rule("study-hours").before == BeforeDeadline(phase="online_study", days=(7, 1))
    assert programme.reminder_rule("survey-m1").after == AfterPhase(
        phase="field_study", days=(120,), nudges=2, nudge_every_days=7
    )
    assert programme.reminder_rule("weekly").weekly == Weekly(weekday=1, at=time(9, 0))
    assert reminders.quiet_hours == QuietHours(start=time(21, 0), end=time(8, 0))
    assert reminders.template("survey").en.body == "Dear {name}, please answer survey {survey}."
    assert reminders.coordinators[1] == Coordinator(
        prefecture=CHENZHOU, name="郴州市项目办", phone="+8613800000000", time_zone="Asia/Shanghai"
    )
    assert parse_programme(programme.model_dump(mode="json")) == programme


def test_the_sample_programme_s_own_reminders_are_valid() -> None:
    for programme in (sample_programme(reminders=True), sample_programme(digests=True)):
        assert programme.reminders is not None
        assert programme_problems(programme) == []
    assert sample_programme().reminders is None


def test_a_rule_knows_the_phase_it_counts_from_and_who_receives_it() -> None:
    programme = parse_programme(with_section(section()))
    assert [(r.phase, r.recipients) for r in programme.reminders.rules] == [  # type: ignore[union-attr]
        ("online_study", "participants"),
        ("online_study", "participants"),
        ("return_to_post", "participants"),
        ("field_study", "participants"),
        (None, "coordinators"),
    ]


def test_unknown_rules_and_templates_are_key_errors() -> None:
    programme = parse_programme(with_section(section()))
    with pytest.raises(KeyError, match="programme guopei-party-secretary v1 has no reminder rule 'nope'"):
        programme.reminder_rule("nope")
    with pytest.raises(KeyError, match="has no reminder rule 'study-hours'"):
        sample_programme().reminder_rule("study-hours")
    with pytest.raises(KeyError, match="nope"):
        programme.reminders.template("nope")  # type: ignore[union-attr]


def test_defaults() -> None:
    reminders = Reminders()
    assert reminders.time_zone == "Asia/Shanghai"
    assert reminders.quiet_hours == QuietHours(start=time(21, 0), end=time(8, 0))
    assert (reminders.rules, reminders.templates, reminders.coordinators) == ((), (), ())
    rule = ReminderRule(code="r", template="t", audience="under_required_hours")
    assert (rule.channel, rule.before, rule.after, rule.weekly, rule.deliverable, rule.survey) == (
        "email",
        None,
        None,
        None,
        None,
        None,
    )
    assert AfterPhase(phase="field_study", days=(30,)).nudges == 0
    assert AfterPhase(phase="field_study", days=(30,)).nudge_every_days == 7
    assert Weekly() == Weekly(weekday=1, at=time(9, 0))
    assert Coordinator(prefecture=CHANGSHA, name="n").locale == "zh"
    assert MAX_NUDGES == 2


def test_quiet_hours_can_be_switched_off() -> None:
    programme = parse_programme(with_section({**section(), "quiet_hours": None}))
    assert programme.reminders is not None
    assert programme.reminders.quiet_hours is None


def test_an_empty_section_is_valid() -> None:
    programme = parse_programme(with_section({}))
    assert programme.reminders == Reminders()


def test_reminder_rules_are_frozen() -> None:
    rule = ReminderRule(code="r", template="t", audience="under_required_hours")
    with pytest.raises(ValidationError, match="frozen"):
        rule.code = "s"  # type: ignore[misc]


# --- problems, one at a time -------------------------------------------------------------------

CASES: list[tuple[str, Callable[[Section], object], list[str]]] = [
    # rules referring to what does not exist
    (
        "unknown deliverable",
        _set("rules.1.deliverable", "essay"),
        ["reminder rule plan: deliverable 'essay' does not exist"],
    ),
    (
        "no deliverable",
        _del("rules.1.deliverable"),
        ["reminder rule plan: audience missing_deliverable needs a deliverable"],
    ),
    (
        "deliverable on another audience",
        _set("rules.0.deliverable", "book"),
        ["reminder rule study-hours: a deliverable applies only to audience missing_deliverable"],
    ),
    (
        "unknown survey",
        _set("rules.3.survey", "m3"),
        ["reminder rule survey-m1: follow-up survey 'm3' does not exist"],
    ),
    (
        "no survey",
        _del("rules.3.survey"),
        ["reminder rule survey-m1: audience survey_pending needs a survey"],
    ),
    (
        "survey on another audience",
        _set("rules.2.survey", "m1"),
        ["reminder rule report: a survey applies only to audience survey_pending"],
    ),
    (
        "missing template",
        _set("rules.2.template", "return-report"),
        ["reminder rule report: message template 'return-report' does not exist"],
    ),
    # message templates
    (
        "unknown placeholder",
        _set("templates.2.en.body", "Dear {name}, your grade is {grade}."),
        [
            "message template report (en body): unknown placeholder {grade} for participants; "
            f"known: {PARTICIPANT_NAMES}"
        ],
    ),
    (
        "participant placeholder in a digest",
        _set("templates.4.zh.subject", "{prefecture}周报：{deadline}截止"),
        [
            f"message template digest (zh subject): unknown placeholder {{deadline}} for coordinators; "
            f"known: {COORDINATOR_NAMES}"
        ],
    ),
    (
        "malformed placeholder",
        _set("templates.0.zh.subject", "【{programme】"),
        ["message template study (zh subject): expected '}' before end of string"],
    ),
    (
        "attribute access",
        _set("templates.3.en.subject", "{name.__class__}"),
        ["message template survey (en subject): placeholder {name.__class__} must be a plain name"],
    ),
    # duplicates and codes
    ("duplicate rule", _append_copy("rules", 2), ["reminder rule report is listed more than once"]),
    ("duplicate template", _append_copy("templates", 2), ["message template report is listed more than once"]),
    (
        "duplicate coordinator",
        lambda s: s["coordinators"].append({"prefecture": CHANGSHA, "name": "长沙市教育局"}),
        [f"coordinator for prefecture {CHANGSHA} is listed more than once"],
    ),
    (
        "code with a space",
        _set("rules.0.code", "study hours"),
        ["reminder rule study hours: a code may hold only letters, digits, '.', '_' and '-'"],
    ),
    (
        "code in Chinese",
        _set("rules.0.code", "学时提醒"),
        ["reminder rule 学时提醒: a code may hold only letters, digits, '.', '_' and '-'"],
    ),
    # timing
    (
        "no timing",
        _del("rules.0.before"),
        ["reminder rule study-hours: needs exactly one of before, after or weekly, got 0"],
    ),
    (
        "two timings",
        _set("rules.0.after", {"phase": "online_study", "days": [1]}),
        ["reminder rule study-hours: needs exactly one of before, after or weekly, got 2"],
    ),
    (
        "weekly to participants",
        lambda s: s["rules"][0].update(before=None, weekly={"weekday": 5}),
        ["reminder rule study-hours: weekly digests go to coordinators, and coordinators get only weekly digests"],
    ),
    (
        "coordinators before a deadline",
        lambda s: s["rules"][4].update(weekly=None, before={"phase": "online_study", "days": [7]}),
        ["reminder rule weekly: weekly digests go to coordinators, and coordinators get only weekly digests"],
    ),
    (
        "weekday zero",
        _set("rules.4.weekly.weekday", 0),
        ["reminder rule weekly: weekday 0 must be 1 (Monday) to 7 (Sunday)"],
    ),
    (
        "weekday eight",
        _set("rules.4.weekly.weekday", 8),
        ["reminder rule weekly: weekday 8 must be 1 (Monday) to 7 (Sunday)"],
    ),
    # days before a deadline, inside the phase
    (
        "before: no days",
        _set("rules.0.before.days", []),
        ["reminder rule study-hours: before.days lists no days"],
    ),
    (
        "before: zero days",
        _set("rules.0.before.days", [7, 0]),
        ["reminder rule study-hours: 0 days before the online_study deadline must be 1 or more"],
    ),
    (
        "before: negative days",
        _set("rules.2.before.days", [-2]),
        ["reminder rule report: -2 days before the return_to_post deadline must be 1 or more"],
    ),
    (
        "before: the whole phase",
        _set("rules.0.before.days", [90, 7]),
        [
            "reminder rule study-hours: 90 days before the online_study deadline falls before the phase opens "
            "(it lasts 90 days)"
        ],
    ),
    (
        "before: longer than the phase",
        _set("rules.2.before.days", [100]),
        [
            "reminder rule report: 100 days before the return_to_post deadline falls before the phase opens "
            "(it lasts 90 days)"
        ],
    ),
    (
        "before: the one-day completion phase",
        _set("rules.2.before", {"phase": "completion", "days": [1]}),
        ["reminder rule report: 1 days before the completion deadline falls before the phase opens (it lasts 1 days)"],
    ),
    # days after a phase, and nudges
    (
        "after: no days",
        _set("rules.3.after.days", []),
        ["reminder rule survey-m1: after.days lists no days"],
    ),
    (
        "after: zero days",
        lambda s: s["rules"][3].update(survey="m1", after={"phase": "return_to_post", "days": [0]}),
        [
            "reminder rule survey-m1: 0 days after return_to_post must be 1 or more",
            "reminder rule survey-m1: day 284 comes before survey m1 is sent on day 314",
        ],
    ),
    (
        "after: three nudges",
        _set("rules.3.after.nudges", 3),
        ["reminder rule survey-m1: nudges must be 0 to 2, got 3"],
    ),
    (
        "after: negative nudges",
        _set("rules.3.after.nudges", -1),
        ["reminder rule survey-m1: nudges must be 0 to 2, got -1"],
    ),
    (
        "after: nudges every 0 days",
        _set("rules.3.after.nudge_every_days", 0),
        ["reminder rule survey-m1: nudge_every_days must be 1 or more"],
    ),
    (
        "after: the completion phase",
        _set("rules.3.after.phase", "completion"),
        ["reminder rule survey-m1: nothing follows the completion phase, so no reminder can come after it"],
    ),
    (
        "after: past the programme's end",
        _set("rules.3.after.days", [120, 900]),
        ["reminder rule survey-m1: day 1108 of the programme falls after it ends on day 1015"],
    ),
    (
        "after: before the survey is sent",
        _set("rules.3.after.days", [119]),
        ["reminder rule survey-m1: day 313 comes before survey m1 is sent on day 314"],
    ),
    # time zones and coordinators
    (
        "unknown time zone",
        _set("time_zone", "Asia/Beijing"),
        ["reminders.time_zone 'Asia/Beijing' is not a known time zone"],
    ),
    (
        "time zone that is not a key",
        _set("time_zone", "../etc/passwd"),
        ["reminders.time_zone '../etc/passwd' is not a known time zone"],
    ),
    (
        "empty time zone",
        _set("time_zone", ""),
        ["reminders.time_zone '' is not a known time zone"],
    ),
    (
        "coordinator's time zone",
        _set("coordinators.1.time_zone", "CST"),
        ["coordinator 郴州市项目办: time_zone 'CST' is not a known time zone"],
    ),
    (
        "coordinator for an unknown prefecture",
        lambda s: s["coordinators"].append({"prefecture": "110100", "name": "北京市项目办"}),
        ["coordinator 北京市项目办: prefecture 110100 is not in the programme"],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [(c, p) for _, c, p in CASES], ids=[name for name, _, _ in CASES])
def test_each_check_reports_its_own_problem(change: Callable[[Section], object], expected: list[str]) -> None:
    assert problems_of(changed(change)) == expected


@pytest.mark.parametrize(
    ("days", "last_day"),
    [(806, 1014), (807, 1015)],
    ids=["last nudge the day before the end", "last nudge on the last day"],
)
def test_the_last_nudge_counts_towards_the_programme_s_end(days: int, last_day: int) -> None:
    # field_study closes on day 194; the second nudge comes 14 days after the first reminder.
    data = changed(_set("rules.3.after.days", [days]))
    if last_day < 1015:
        assert parse_programme(data).reminder_rule("survey-m1").after is not None
    else:
        assert problems_of(data) == [
            f"reminder rule survey-m1: day {last_day} of the programme falls after it ends on day 1015"
        ]
    without_nudges = changed(lambda s: s["rules"][3]["after"].update(days=[days + 14], nudges=0))
    assert programme_problems(Programme.model_validate(without_nudges)) == programme_problems(
        Programme.model_validate(data)
    )


def test_a_reminder_on_the_day_the_survey_is_sent_is_accepted() -> None:
    programme = parse_programme(changed(_set("rules.3.after.days", [120, 150])))
    assert programme.reminder_rule("survey-m1").after == AfterPhase(
        phase="field_study", days=(120, 150), nudges=2, nudge_every_days=7
    )


def test_a_template_is_checked_for_the_audience_of_each_rule_that_uses_it() -> None:
    def change(s: Section) -> None:
        s["rules"][4]["template"] = "study"  # fine for study-hours, not as a coordinators' digest

    problems = problems_of(changed(change))
    assert problems == [
        f"message template study (zh body): unknown placeholder {{{name}}} for coordinators; known: {COORDINATOR_NAMES}"
        for name in ("hours", "missing_hours", "deadline")
    ] + [
        f"message template study (en body): unknown placeholder {{{name}}} for coordinators; known: {COORDINATOR_NAMES}"
        for name in ("missing_hours", "deadline")
    ]


@settings(max_examples=60, deadline=None)
@given(days=st.integers(-3, 95))
def test_days_before_a_deadline_must_fall_inside_the_phase(days: int) -> None:
    data = changed(_set("rules.0.before.days", [days]))
    found = programme_problems(Programme.model_validate(data))
    if 1 <= days < 90:
        assert found == []
    elif days < 1:
        assert found == [f"reminder rule study-hours: {days} days before the online_study deadline must be 1 or more"]
    else:
        assert found == [
            f"reminder rule study-hours: {days} days before the online_study deadline falls before the phase opens "
            "(it lasts 90 days)"
        ]


# --- shape errors ------------------------------------------------------------------------------

SHAPE_CASES: list[tuple[str, Callable[[Section], object], str]] = [
    (
        "unknown phase",
        _set("rules.0.before.phase", "orientation"),
        "reminders.rules.0.before.phase: Input should be 'nomination', 'online_study', 'selection', 'field_study', "
        "'return_to_post', 'follow_up' or 'completion'",
    ),
    (
        "unknown audience",
        _set("rules.0.audience", "everyone"),
        "reminders.rules.0.audience: Input should be 'under_required_hours', 'missing_deliverable', "
        "'return_report_pending', 'survey_pending' or 'coordinators'",
    ),
    (
        "unknown channel",
        _set("rules.2.channel", "sms"),
        "reminders.rules.2.channel: Input should be 'email' or 'webhook'",
    ),
    (
        "extra key",
        _set("rules.1.deadline", "online_study"),
        "reminders.rules.1.deadline: Extra inputs are not permitted",
    ),
    ("template without English", _del("templates.1.en"), "reminders.templates.1.en: Field required"),
    (
        "coordinator's locale",
        _set("coordinators.0.locale", "fr"),
        "reminders.coordinators.0.locale: Input should be 'zh' or 'en'",
    ),
    (
        "days as text",
        _set("rules.0.before.days", "7,1"),
        "reminders.rules.0.before.days: Input should be a valid tuple",
    ),
    (
        "quiet hours with a zone",
        _set("quiet_hours.zone", "Asia/Shanghai"),
        "reminders.quiet_hours.zone: Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(
    ("change", "problem"), [(c, p) for _, c, p in SHAPE_CASES], ids=[name for name, _, _ in SHAPE_CASES]
)
def test_shape_errors_name_the_field(change: Callable[[Section], object], problem: str) -> None:
    assert problems_of(changed(change)) == [problem]


# --- every problem at once ---------------------------------------------------------------------


def test_every_problem_is_listed_at_once_after_the_rest_of_the_template_s() -> None:
    s = section()
    s["time_zone"] = "Mars/Olympus"
    s["rules"][1]["deliverable"] = "essay"
    s["rules"][2]["template"] = "nope"
    s["rules"][3]["after"]["nudges"] = 5
    s["rules"][4]["weekly"]["weekday"] = 9
    s["templates"][0]["zh"]["body"] = "{grade}"
    s["coordinators"].append({"prefecture": "999999", "name": "无名"})
    data = with_section(s)
    data["version"] = 0

    assert problems_of(data) == [
        "version must be 1 or more",
        "reminders.time_zone 'Mars/Olympus' is not a known time zone",
        f"message template study (zh body): unknown placeholder {{grade}} for participants; known: {PARTICIPANT_NAMES}",
        "reminder rule plan: deliverable 'essay' does not exist",
        "reminder rule report: message template 'nope' does not exist",
        "reminder rule survey-m1: nudges must be 0 to 2, got 5",
        "reminder rule weekly: weekday 9 must be 1 (Monday) to 7 (Sunday)",
        "coordinator 无名: prefecture 999999 is not in the programme",
    ]


def test_rules_on_the_small_test_programme_follow_its_own_calendar() -> None:
    # online_study lasts 30 days there, and survey m6 is sent on day 105 + 90 = 195, the programme ends on 201.
    data = small_programme().model_dump(mode="json")
    s = section()
    s["rules"] = [s["rules"][0], s["rules"][3]]
    s["rules"][0]["before"]["days"] = [29, 30]
    s["rules"][1].update(code="survey-m6", survey="m6", after={"phase": "return_to_post", "days": [89, 90, 96]})
    s["coordinators"] = []
    data["reminders"] = s
    assert problems_of(data) == [
        "reminder rule study-hours: 30 days before the online_study deadline falls before the phase opens "
        "(it lasts 30 days)",
        "reminder rule survey-m6: day 194 comes before survey m6 is sent on day 195",
        "reminder rule survey-m6: day 201 of the programme falls after it ends on day 201",
    ]


# --- digests -----------------------------------------------------------------------------------

# Taken at commit ff09f16, before programme templates had reminders: stored cohorts refer to these.
SAMPLE_DIGEST = "9a509b74bbae5b80f23a73c4baac34e816d1fa7fdc6b40332b25962e2c587d53"
SMALL_DIGEST = "a84e03558f2cb5f011f6d4b42bb92c9e6f37a719ad722da8028cb8a618bb6d50"


@pytest.mark.parametrize("make", [sample_programme, small_programme], ids=["sample", "small"])
def test_a_programme_without_reminders_keeps_the_digest_of_its_dump_without_the_key(
    make: Callable[[], Programme],
) -> None:
    programme = make()
    data = programme.model_dump(mode="json")
    assert data["reminders"] is None
    del data["reminders"]
    assert programme.digest == digest(data)
    assert parse_programme(data).digest == programme.digest  # absent or null: the same template
    assert parse_programme({**data, "reminders": None}).digest == programme.digest


def test_digests_of_templates_without_reminders_are_those_recorded_before_reminders_existed() -> None:
    # If the sample or the test template itself was changed on purpose, take the new digests from that change.
    assert sample_programme().digest == SAMPLE_DIGEST, "a template without reminders changed its digest"
    assert small_programme().digest == SMALL_DIGEST, "a template without reminders changed its digest"


def test_reminders_are_part_of_the_digest() -> None:
    plain = sample_programme()
    with_rules = parse_programme(with_section(section()))
    assert with_rules.digest != plain.digest
    assert with_rules.digest == digest(with_rules.model_dump(mode="json"))
    assert parse_programme(with_section({})).digest not in (plain.digest, with_rules.digest)
    moved = parse_programme(changed(_set("rules.0.before.days", [7, 2])))
    assert moved.digest != with_rules.digest
    reworded = parse_programme(changed(_set("templates.3.en.subject", "Survey")))
    assert reworded.digest != with_rules.digest


# --- known gap ---------------------------------------------------------------------------------


def test_a_code_ending_in_a_newline_is_refused() -> None:
    assert problems_of(changed(_set("rules.0.code", "study-hours\n"))) == [
        "reminder rule study-hours\n: a code may hold only letters, digits, '.', '_' and '-'"
    ]
