"""Verification codes: drawn from random bytes, printed in groups, read back as people read them off paper."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohortflow.audit import standalone_verifier
from cohortflow.domain.certificate_codes import ALPHABET, RANDOM_BYTES, MalformedCode, new_code, parse_code

codes = st.binary(min_size=RANDOM_BYTES, max_size=RANDOM_BYTES).map(new_code)


def test_a_code_is_sixteen_crockford_characters_in_four_groups() -> None:
    assert new_code(bytes(RANDOM_BYTES)) == "0000-0000-0000-0000"
    assert new_code(b"\xff" * RANDOM_BYTES) == "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
    code = new_code(bytes(range(RANDOM_BYTES)))
    assert [len(group) for group in code.split("-")] == [4, 4, 4, 4]
    assert set(code.replace("-", "")) <= set(ALPHABET)
    assert not set("ILOU") & set(ALPHABET)


@given(st.binary(min_size=RANDOM_BYTES, max_size=RANDOM_BYTES), st.binary(min_size=RANDOM_BYTES, max_size=RANDOM_BYTES))
def test_different_random_bytes_give_different_codes(a: bytes, b: bytes) -> None:
    assert (new_code(a) == new_code(b)) is (a == b)


def test_only_ten_random_bytes_make_a_code() -> None:
    with pytest.raises(ValueError, match="10 random bytes"):
        new_code(bytes(8))


@given(codes)
def test_a_code_is_read_back_however_it_was_typed(code: str) -> None:
    typed = code.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert parse_code(code) == code
    assert parse_code(typed) == code
    assert parse_code(code.replace("-", "")) == code
    assert standalone_verifier.parse_code(typed) == code


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "16 characters"),
        ("ABCD-EFGH-JKMN", "16 characters"),
        ("ABCD-EFGH-JKMN-PQRS-T", "16 characters"),
        ("ABCD-EFGH-JKMN-PQRU", "no 'U'"),
        ("ABCD-EFGH-JKMN-PQR*", "no '\\*'"),
        ("结业证书结业证书结业证书结业证书", "no '业', '书', '结', '证'"),
    ],
)
def test_text_that_cannot_be_a_code_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(MalformedCode, match=reason):
        parse_code(text)
    with pytest.raises(ValueError, match="is not a verification code"):
        standalone_verifier.parse_code(text)
