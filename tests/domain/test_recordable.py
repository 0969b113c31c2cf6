"""Text no event can hold is found, with where it is, before anything is decided or recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cohortflow.domain.cycle import CommandRefused, check_recordable
from cohortflow.domain.programme import ProgrammeInvalid, parse_programme
from cohortflow.domain.recordable import unrecordable
from cohortflow.domain.template import parse_template
from tests.domain.test_template import Template, changed


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("校长跟岗研修 😀", None),  # a character beyond U+FFFF is one code point, not a surrogate pair
        ("a\ud800b", "U+D800"),
        ("\udfff", "U+DFFF"),
        ({"names": ["x", "y\udc00"]}, "U+DC00"),
        ({"key\ud801": 1}, "U+D801"),
        (("ok", 3, None), None),
        (12, None),
        (["a", {"b": "c\x00"}], "U+0000"),
        ("a literal \\u0000 is six characters", None),
    ],
)
def test_nul_or_a_lone_surrogate_is_found_anywhere_in_text(value: object, found: str | None) -> None:
    assert unrecordable(value) == found


def test_a_command_field_with_a_lone_surrogate_is_refused_by_name() -> None:
    with pytest.raises(CommandRefused, match=r"reason contains a lone surrogate \(U\+D83D\)"):
        check_recordable({"participant_id": "P000001", "reason": "moved away \ud83d"})
    with pytest.raises(CommandRefused, match=r"reason contains a NUL character"):
        check_recordable({"reason": "a\x00b"})
    check_recordable({"reason": "调往外省 😀", "hours": 3})


SURROGATE = "the template contains a lone surrogate ({code}), which cannot be recorded"
NUL_TEXT = "the template contains a NUL character (U+0000), which cannot be recorded"


@pytest.mark.parametrize(
    ("name", "parse", "text", "problem"),
    [
        ("placement", parse_template, "跟岗\udc81研修", SURROGATE.format(code="U+DC81")),  # a block template
        ("guopei-party-secretary", parse_programme, "国培\ud800", SURROGATE.format(code="U+D800")),  # seven phases
        ("placement", parse_template, "跟岗\x00研修", NUL_TEXT),
        ("guopei-party-secretary", parse_programme, "国培\x00", NUL_TEXT),
    ],
)
def test_a_template_with_text_no_event_can_hold_is_refused_saying_which(
    name: str, parse: Callable[[Template], object], text: str, problem: str
) -> None:
    with pytest.raises(ProgrammeInvalid) as caught:
        parse(changed(name, lambda data: data.update(name=text)))
    assert problem in caught.value.problems


def test_a_template_may_hold_a_backslash_followed_by_u0000_as_text() -> None:
    parse_template(changed("placement", lambda data: data.update(name="跟岗 \\u0000 研修")))
