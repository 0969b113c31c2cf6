"""Canonical JSON: the byte form that event hashes and selection digests are taken over."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohortflow.domain.canonical import canonical_json, digest


def standard_form(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_integral_floats_are_written_as_integers() -> None:
    assert canonical_json({"hours": 120.0, "nested": [1.0, {"x": -3.0}], "t": (2.0,)}) == (
        '{"hours":120,"nested":[1,{"x":-3}],"t":[2]}'
    )
    assert canonical_json(1e16) == "10000000000000000"
    assert canonical_json(-0.0) == "0"


def test_integral_floats_and_ints_digest_alike() -> None:
    assert digest({"hours": 146.0}) == digest({"hours": 146})


def test_fractions_and_booleans_keep_their_form() -> None:
    assert canonical_json({"hours": 146.5, "ratio": 0.8}) == '{"hours":146.5,"ratio":0.8}'
    assert canonical_json([True, False, None]) == "[true,false,null]"
    assert digest({"flag": True}) != digest({"flag": 1})


def test_key_order_is_irrelevant() -> None:
    a = {"b": 1, "a": {"y": [1, 2], "x": "甲"}}
    b = {"a": {"x": "甲", "y": [1, 2]}, "b": 1}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":"甲","y":[1,2]},"b":1}'
    assert digest(a) == digest(b)


def test_list_order_matters() -> None:
    assert digest([1, 2]) != digest([2, 1])


def test_chinese_is_kept_as_utf8_text() -> None:
    value = {"name": "王芳", "school": "湘西土家族苗族自治州民族中学"}
    text = canonical_json(value)
    assert text == '{"name":"王芳","school":"湘西土家族苗族自治州民族中学"}'
    assert "\\u" not in text
    assert digest(value) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_canonical_form_survives_a_json_round_trip() -> None:
    value = {"z": [1.5, 2.0, "三"], "a": {"n": 10.0}}
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


def test_non_string_keys_are_written_as_strings() -> None:
    assert canonical_json({1: "a"}) == '{"1":"a"}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN and infinity cannot be stored"):
        canonical_json({"hours": bad})
    with pytest.raises(ValueError, match="NaN and infinity cannot be stored"):
        digest([1, [bad]])


def test_flat_objects_are_written_as_the_standard_library_writes_them_for_every_code_point() -> None:
    code_points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(code_points), 4096):
        chunk = code_points[start : start + 4096]
        value = {f"{c}{i}": f"<{c}>" for i, c in enumerate(chunk)}
        assert canonical_json(value) == standard_form(value)


plain = st.one_of(st.none(), st.booleans(), st.integers(), st.text())


@given(st.dictionaries(st.text(), plain, max_size=12))
def test_flat_objects_are_written_in_the_standard_form(value: dict[str, object]) -> None:
    assert canonical_json(value) == standard_form(value)


def test_integers_beyond_64_bits_are_written_in_full() -> None:
    assert canonical_json({"n": 2**70, "m": -(2**64)}) == '{"m":-18446744073709551616,"n":1180591620717411303424}'
