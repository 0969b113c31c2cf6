"""A phrase made in English is said in Chinese with the same values; other texts are said as they are."""

from __future__ import annotations

from cohortflow.domain.phrases import in_lines, joined, phrase
from cohortflow.texts.phrasebook import Phrasebook, translate

BOOK = Phrasebook(
    {
        "row {row}": "第 {row} 行",
        "{where}, hours: {value} is not a number": "{where}，学时：{value} 不是数字",
        "{where}, hours: {value} is not a number; write it like 12": "{where}，学时：{value} 不是数字；请写作 12",
        "the cohort is closed": "培训班已结束",
        "{a} or {a}": "{a}或{a}",
        "block {block} is not open": "环节 {block} 未开放",
    }
)


def test_a_whole_text_is_looked_up() -> None:
    assert BOOK.say(phrase("the cohort is closed")) == "培训班已结束"


def test_the_values_of_a_phrase_are_kept_and_a_phrase_inside_one_is_said_too() -> None:
    text = phrase("{where}, hours: {value} is not a number", where=phrase("row {row}", row=7), value="'abc'")
    assert BOOK.say(text) == "第 7 行，学时：'abc' 不是数字"


def test_the_template_with_more_words_wins_when_two_would_match() -> None:
    text = phrase("{where}, hours: {value} is not a number; write it like 12", where="row 2", value="x")
    assert BOOK.say(text) == "第 2 行，学时：x 不是数字；请写作 12"


def test_a_blank_named_twice_must_hold_the_same_value_twice() -> None:
    assert BOOK.say("a or a") == "a或a"
    assert BOOK.say("a or b") == "a or b"


def test_a_value_spanning_lines_is_kept_whole() -> None:
    assert BOOK.say("block one\ntwo is not open") == "环节 one\ntwo 未开放"


def test_a_text_no_template_makes_is_said_as_it_is() -> None:
    assert BOOK.say("张三 withdrew for family reasons") == "张三 withdrew for family reasons"
    assert BOOK.say("") == ""


def test_english_is_the_text_itself() -> None:
    assert translate("row 3", "en") == "row 3"


def test_an_empty_catalogue_says_everything_as_it_is() -> None:
    assert Phrasebook({}).say("row 3") == "row 3"


LISTS = Phrasebook(
    {
        "{one}; {others}": "{one}；{others}",
        "{one}\n- {others}": "{one}\n- {others}",
        "row {row}": "第 {row} 行",
        "{where}, hours: {value} is not a number": "{where}，学时：{value} 不是数字",
        "{value} is not a number; write it like 12": "{value} 不是数字；请写作 12",
        "{amount} hours of entry {entry} reversed ({reason})": "记录 {entry} 的 {amount} 学时已冲销（{reason}）",
        "{missing} hours missing by {due}: {achieved} of {required} hours in {span}": (
            "截至 {due} 尚缺 {missing} 学时：{span}已完成 {achieved} / {required} 学时"
        ),
        "the cycle {first}–{last}": "{first}–{last} 周期",
        "{title} is not met: {why}": "未达到{title}：{why}",
        "the template is invalid:\n- {problems}": "模板有误：\n- {problems}",
        "the cohort is closed": "培训班已结束",
    }
)
STANDING = phrase(
    "{missing} hours missing by {due}: {achieved} of {required} hours in {span}",
    missing=5,
    due="2024-12-31",
    achieved=5,
    required=10,
    span=phrase("the cycle {first}–{last}", first=2020, last=2024),
)
STANDING_ZH = "截至 2024-12-31 尚缺 5 学时：2020–2024 周期已完成 5 / 10 学时"


def test_each_item_of_a_list_is_said_on_its_own() -> None:
    rows = [
        phrase("{where}, hours: {value} is not a number", where=phrase("row {row}", row=n), value=n) for n in (3, 4)
    ]
    assert (
        LISTS.say(joined([*rows, "the cohort is closed"]))
        == "第 3 行，学时：3 不是数字；第 4 行，学时：4 不是数字；培训班已结束"
    )
    lines = phrase("the template is invalid:\n- {problems}", problems=in_lines([*rows, "the cohort is closed"]))
    assert LISTS.say(lines) == "模板有误：\n- 第 3 行，学时：3 不是数字\n- 第 4 行，学时：4 不是数字\n- 培训班已结束"


def test_an_item_no_template_makes_is_kept_as_it_is_and_the_others_are_said() -> None:
    assert LISTS.say(joined(["the cohort is closed", "张三 left"])) == "培训班已结束；张三 left"


def test_a_text_with_the_separator_that_is_no_list_of_phrases_is_said_as_it_is() -> None:
    assert LISTS.say("family; health") == "family; health"


def test_a_template_whose_words_hold_the_separator_is_one_item() -> None:
    said = LISTS.say(joined([phrase("{value} is not a number; write it like 12", value="'x'"), "the cohort is closed"]))
    assert said == "'x' 不是数字；请写作 12；培训班已结束"


def test_a_value_holding_the_separator_stays_in_its_item() -> None:
    reversal = phrase("{amount} hours of entry {entry} reversed ({reason})", amount=3, entry="e1", reason="typo; again")
    assert LISTS.say(joined([STANDING, reversal])) == f"{STANDING_ZH}；记录 e1 的 3 学时已冲销（typo; again）"


def test_a_wrapper_beginning_with_a_blank_keeps_its_words_around_a_sentence_beginning_with_one() -> None:
    """The inner template has more words and matches first, its {missing} taking the title; read the other way out,
    the title stays the title and the sentence its reason."""
    text = phrase("{title} is not met: {why}", title="Continuing hours", why=STANDING)
    assert LISTS.say(text) == f"未达到Continuing hours：{STANDING_ZH}"
    listed = phrase(
        "{title} is not met: {why}",
        title="Continuing hours",
        why=joined(
            [
                STANDING,
                phrase("{amount} hours of entry {entry} reversed ({reason})", amount=2, entry="e2", reason="dup"),
            ]
        ),
    )
    assert LISTS.say(listed) == f"未达到Continuing hours：{STANDING_ZH}；记录 e2 的 2 学时已冲销（dup）"


def test_a_phrase_in_a_leading_blank_that_holds_phrases_stays_there() -> None:
    """``row {row}`` could also take the whole text in its {row}; {where} holds phrases and {row} does not."""
    text = phrase("{where}, hours: {value} is not a number", where=phrase("row {row}", row=3), value="'x'")
    assert LISTS.say(text) == "第 3 行，学时：'x' 不是数字"
