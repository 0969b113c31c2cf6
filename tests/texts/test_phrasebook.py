"""A phrase made in English is said in Chinese with the same values; other texts are said as they are."""

from __future__ import annotations

from cohortflow.domain.phrases import phrase
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
