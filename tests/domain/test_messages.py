"""Message templates: which placeholders each audience may use, every unusable field reported, rendering."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cohortflow.domain.messages import (
    LOCALES,
    PLACEHOLDERS,
    MessageTemplate,
    MessageText,
    Recipients,
    RenderedMessage,
    placeholder_problems,
    render,
)

PARTICIPANT_NAMES = (
    "cohort, days_left, deadline, deliverable, hours, missing_hours, name, participant_id, phase, prefecture, "
    "programme, required_hours, school, survey"
)
COORDINATOR_NAMES = (
    "attended_field_study, cohort, completed, met_online_requirement, name, nominated, prefecture, programme, "
    "selected, week, withdrawn"
)


def template(
    zh_subject: str = "【{programme}】提醒",
    zh_body: str = "{name}老师：请于{deadline}前完成。",
    en_subject: str = "{programme}: reminder",
    en_body: str = "Dear {name}, please finish before {deadline}.",
    code: str = "t",
) -> MessageTemplate:
    return MessageTemplate(
        code=code,
        zh=MessageText(subject=zh_subject, body=zh_body),
        en=MessageText(subject=en_subject, body=en_body),
    )


def problems(t: MessageTemplate, recipients: Recipients = "participants") -> list[str]:
    return list(placeholder_problems(t, recipients))


def every_value(recipients: Recipients) -> dict[str, object]:
    return {name: f"<{name}>" for name in PLACEHOLDERS[recipients]}


# --- which names each audience may use ---------------------------------------------------------


def test_both_audiences_share_the_common_names() -> None:
    for recipients in ("participants", "coordinators"):
        assert {"name", "cohort", "programme", "prefecture"} <= PLACEHOLDERS[recipients]


def test_deadlines_and_hours_are_for_participants_and_funnel_counts_for_coordinators() -> None:
    participant_only = PLACEHOLDERS["participants"] - PLACEHOLDERS["coordinators"]
    coordinator_only = PLACEHOLDERS["coordinators"] - PLACEHOLDERS["participants"]
    assert participant_only == {
        "participant_id",
        "school",
        "deadline",
        "days_left",
        "hours",
        "required_hours",
        "missing_hours",
        "deliverable",
        "survey",
        "phase",
    }
    assert coordinator_only == {
        "nominated",
        "met_online_requirement",
        "selected",
        "attended_field_study",
        "completed",
        "withdrawn",
        "week",
    }
    assert ", ".join(sorted(PLACEHOLDERS["participants"])) == PARTICIPANT_NAMES
    assert ", ".join(sorted(PLACEHOLDERS["coordinators"])) == COORDINATOR_NAMES


# --- placeholder problems ----------------------------------------------------------------------


def test_a_template_using_only_known_names_has_no_problems() -> None:
    assert problems(template()) == []
    digest = template(
        zh_subject="{prefecture}周报（{week}）",
        zh_body="推荐{nominated}人，入选{selected}人，结业{completed}人，退出{withdrawn}人。",
        en_subject="{prefecture} weekly ({week})",
        en_body="{met_online_requirement} met the requirement, {attended_field_study} attended.",
    )
    assert problems(digest, "coordinators") == []


def test_text_without_any_placeholder_has_no_problems() -> None:
    assert problems(template("提醒", "请按时完成。", "Reminder", "Please finish in time.")) == []


@pytest.mark.parametrize(
    ("part", "where"),
    [
        ("zh_subject", "zh subject"),
        ("zh_body", "zh body"),
        ("en_subject", "en subject"),
        ("en_body", "en body"),
    ],
)
def test_an_unknown_name_is_reported_with_the_part_it_is_in(part: str, where: str) -> None:
    t = template(**{part: "成绩：{grade}", "code": "study-hours"})
    assert problems(t) == [
        f"message template study-hours ({where}): unknown placeholder {{grade}} for participants; "
        f"known: {PARTICIPANT_NAMES}"
    ]


def test_a_participant_name_is_unknown_in_a_coordinators_digest() -> None:
    t = template(
        zh_subject="周报",
        zh_body="{name}：截止{deadline}",
        en_subject="Weekly",
        en_body="{name}: {week}",
        code="digest",
    )
    assert problems(t, "coordinators") == [
        f"message template digest (zh body): unknown placeholder {{deadline}} for coordinators; "
        f"known: {COORDINATOR_NAMES}"
    ]


def test_a_funnel_count_is_unknown_in_a_participants_reminder() -> None:
    t = template(en_body="{selected} of you were selected")
    assert problems(t) == [
        f"message template t (en body): unknown placeholder {{selected}} for participants; known: {PARTICIPANT_NAMES}"
    ]


def test_every_unknown_name_in_every_part_is_listed_in_order() -> None:
    t = template(
        zh_subject="{a}",
        zh_body="{b}{name}{c}",
        en_subject="{name}",
        en_body="{d}",
    )
    found = problems(t)
    assert [p.split(":")[0] for p in found] == [
        "message template t (zh subject)",
        "message template t (zh body)",
        "message template t (zh body)",
        "message template t (en body)",
    ]
    assert [p.split("placeholder ")[1].split(" ")[0] for p in found] == ["{a}", "{b}", "{c}", "{d}"]


def test_a_name_used_twice_is_reported_twice() -> None:
    assert len(problems(template(zh_body="{grade}，{grade}"))) == 2


@pytest.mark.parametrize(
    "field",
    ["{name.upper}", "{name[0]}", "{0}", "{}", "{name.__class__}"],
    ids=["attribute", "index", "positional", "empty", "dunder"],
)
def test_a_placeholder_must_be_a_plain_name(field: str) -> None:
    t = template(en_subject=f"Hello {field}")
    assert problems(t) == [f"message template t (en subject): placeholder {field} must be a plain name"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{name", "expected '}' before end of string"),
        ("done}", "Single '}' encountered in format string"),
        ("{name!}", "unmatched '{' in format spec"),
        ("{ {name}", "unexpected '{' in field name"),
    ],
)
def test_a_malformed_field_is_reported_with_the_parser_s_reason(text: str, reason: str) -> None:
    assert problems(template(zh_body=text)) == [f"message template t (zh body): {reason}"]


def test_a_malformed_part_does_not_hide_problems_in_the_other_parts() -> None:
    found = problems(template(zh_subject="{name", en_body="{grade}"))
    assert found == [
        "message template t (zh subject): expected '}' before end of string",
        f"message template t (en body): unknown placeholder {{grade}} for participants; known: {PARTICIPANT_NAMES}",
    ]


def test_doubled_braces_are_literal_text_not_placeholders() -> None:
    t = template(zh_body="{{grade}} 与 {{", en_body="}} {{name}}")
    assert problems(t) == []
    rendered = render(t, "en", every_value("participants"))
    assert rendered.body == "} {name}"
    assert render(t, "zh", {"programme": "p"}).body == "{grade} 与 {"


# --- rendering ---------------------------------------------------------------------------------


def test_render_picks_the_recipient_s_language_and_fills_every_part() -> None:
    values = {"programme": "国培计划", "name": "张伟", "deadline": "2024-06-30 23:59"}
    zh = render(template(), "zh", values)
    en = render(template(), "en", values)
    assert zh == RenderedMessage(locale="zh", subject="【国培计划】提醒", body="张伟老师：请于2024-06-30 23:59前完成。")
    assert en == RenderedMessage(
        locale="en", subject="国培计划: reminder", body="Dear 张伟, please finish before 2024-06-30 23:59."
    )


def test_values_the_template_does_not_use_are_ignored_and_non_strings_are_formatted() -> None:
    t = template(en_body="{days_left} days, {hours} hours")
    rendered = render(t, "en", {**every_value("participants"), "days_left": 7, "hours": 12.5})
    assert rendered.body == "7 days, 12.5 hours"


def test_a_missing_value_is_the_caller_s_mistake_and_raises() -> None:
    with pytest.raises(KeyError, match="deadline"):
        render(template(), "zh", {"programme": "p", "name": "n"})


def test_text_returns_the_part_for_each_locale() -> None:
    t = template()
    assert t.text("zh") is t.zh
    assert t.text("en") is t.en
    assert LOCALES == ("zh", "en")


def test_a_template_needs_both_languages_and_nothing_else() -> None:
    with pytest.raises(ValidationError, match="en\n  Field required"):
        MessageTemplate.model_validate({"code": "t", "zh": {"subject": "s", "body": "b"}})
    with pytest.raises(ValidationError, match="fr\n  Extra inputs are not permitted"):
        MessageTemplate.model_validate(
            {
                "code": "t",
                "zh": {"subject": "s", "body": "b"},
                "en": {"subject": "s", "body": "b"},
                "fr": {"subject": "s", "body": "b"},
            }
        )


def test_templates_are_frozen() -> None:
    t = template()
    with pytest.raises(ValidationError, match="frozen"):
        t.code = "other"  # type: ignore[misc]


# --- properties --------------------------------------------------------------------------------

_LITERAL = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def composed(draw: st.DrawFn, recipients: Recipients) -> tuple[str, str]:
    """A part built from literal text and allowed placeholders, and the text it must render to."""
    source, expected = [], []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(PLACEHOLDERS[recipients])))
            source.append(f"{{{name}}}")
            expected.append(f"<{name}>")
        else:
            literal = draw(_LITERAL)
            source.append(literal.replace("{", "{{").replace("}", "}}"))
            expected.append(literal)
    return "".join(source), "".join(expected)


# Each example draws four composed texts, which on a loaded machine can take past Hypothesis's one-second
# health check; the examples themselves are what the test is about, so their speed is not checked.
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), recipients=st.sampled_from(["participants", "coordinators"]))
def test_any_text_with_allowed_names_is_clean_and_renders_with_every_allowed_value(
    data: st.DataObject, recipients: Recipients
) -> None:
    parts = [data.draw(composed(recipients)) for _ in range(4)]
    t = template(*(source for source, _ in parts))
    assert problems(t, recipients) == []
    values = every_value(recipients)
    zh, en = render(t, "zh", values), render(t, "en", values)
    assert [zh.subject, zh.body, en.subject, en.body] == [expected for _, expected in parts]


@settings(max_examples=300)
@given(text=st.text(st.sampled_from("{}!:.[]0 an_meé名"), max_size=16))
def test_checking_never_raises_whatever_the_text(text: str) -> None:
    for found in (problems(template(zh_body=text)), problems(template(en_subject=text), "coordinators")):
        assert all(p.startswith("message template t (") for p in found)


# --- known gap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["{name!x}", "{name:{width}}", "{days_left:d}"])
def test_a_template_that_passes_the_check_renders_with_every_allowed_value(field: str) -> None:
    t = template(zh_body=f"{field}老师")
    reported = problems(t)
    if not reported:
        render(t, "zh", {name: "" for name in PLACEHOLDERS["participants"]})
