"""Resident ID numbers: MOD 11-2 check character, birth date, masking, person keys."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.demo.sample import nominee, nominees, sample_programme
from cohortflow.domain.national_id import InvalidNationalId, PersonKeys, check_char, mask, person_key, validate

# The worked example of GB 11643-1999, the standard that defines the check character.
STANDARD_EXAMPLE = "11010519491231002X"


def _with_check(first17: str) -> str:
    return first17 + check_char(first17)


def _id_ending_in_x() -> str:
    for seq in range(1000):
        first17 = f"43012119800101{seq:03d}"
        if check_char(first17) == "X":
            return first17 + "X"
    raise AssertionError("no sequence number gives an X check character")


def test_the_standard_example_is_valid() -> None:
    assert check_char(STANDARD_EXAMPLE[:17]) == "X"
    assert validate(STANDARD_EXAMPLE) == STANDARD_EXAMPLE


@pytest.mark.parametrize(("index", "prefecture", "seed"), [(1, "430100", 7), (2, "431000", 7), (999, "433100", 42)])
def test_sample_nominees_have_valid_ids(index: int, prefecture: str, seed: int) -> None:
    person = nominee(index, prefecture, "某市", seed)
    assert validate(person.national_id) == person.national_id
    assert person.national_id.startswith(prefecture[:4])


def test_every_nominee_of_the_sample_programme_has_a_valid_id() -> None:
    people = nominees(sample_programme(), seed=2023)
    assert len(people) == 5000
    for person in people:
        assert validate(person.national_id) == person.national_id


def test_wrong_check_digit_names_the_expected_one() -> None:
    valid = nominee(1, "430100", "长沙市", 7).national_id
    wrong = "0" if valid[-1] != "0" else "1"
    with pytest.raises(InvalidNationalId, match=rf"^check digit is {wrong}, expected {re.escape(valid[-1])}$"):
        validate(valid[:-1] + wrong)


@pytest.mark.parametrize(
    ("raw", "length"),
    [("", 0), ("1101051949123100", 16), ("11010519491231002", 17), ("11010519491231002X0", 19)],
)
def test_wrong_length_is_refused(raw: str, length: int) -> None:
    with pytest.raises(InvalidNationalId, match=rf"^must be 18 characters, got {length}$"):
        validate(raw)


def test_surrounding_whitespace_is_ignored() -> None:
    assert validate(f"  {STANDARD_EXAMPLE}\n") == STANDARD_EXAMPLE


@pytest.mark.parametrize(
    "raw",
    [
        "11010A19491231002X",  # a letter in the division code
        "1101051949123100XX",  # X is only allowed as the check character
        "110105-1949123100X",  # punctuation
        "11010519491231 02X",  # inner space is not stripped
    ],
)
def test_non_digits_are_refused(raw: str) -> None:
    with pytest.raises(InvalidNationalId, match=r"^the first 17 characters must be digits$"):
        validate(raw)


@pytest.mark.parametrize(
    "body",
    [
        "１１０１０５１９４９１２３１００２",  # full-width digits, common in text typed with a Chinese IME
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢",  # Arabic-Indic digits
        "²10105194912310021"[:17],  # a superscript digit
    ],
    ids=["fullwidth", "arabic-indic", "superscript"],
)
def test_non_ascii_digits_are_refused(body: str) -> None:
    # str.isdigit() accepts these, but an ID of them is not the same person key as its ASCII
    # spelling, and int() cannot parse some of them at all.
    with pytest.raises(InvalidNationalId, match=r"^the first 17 characters must be digits$"):
        validate(body + "X")


@pytest.mark.parametrize("birth", ["19880230", "19891301", "19890001", "19890100", "19000229"])
def test_impossible_birth_date_is_refused(birth: str) -> None:
    raw = _with_check(f"430121{birth}123")
    with pytest.raises(InvalidNationalId, match=rf"^birth date {birth} is not a real date$"):
        validate(raw)


def test_leap_day_of_a_leap_year_is_a_real_date() -> None:
    raw = _with_check("43012120000229123")
    assert validate(raw) == raw


def test_lower_case_x_is_normalised() -> None:
    upper = _id_ending_in_x()
    assert validate(upper[:-1] + "x") == upper


def test_check_char_refuses_anything_but_17_digits() -> None:
    with pytest.raises(InvalidNationalId, match="expected 17 digits"):
        check_char("1101051949123100")
    with pytest.raises(InvalidNationalId, match="expected 17 digits"):
        check_char("1101051949123100A")


def test_mask_keeps_division_code_and_check_character_only() -> None:
    masked = mask(STANDARD_EXAMPLE)
    assert masked == "110105***********X"
    assert len(masked) == 18
    assert "19491231" not in masked


def test_mask_hides_short_values_entirely() -> None:
    assert mask("1234567") == "*******"
    assert mask("") == ""


SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(100, 132))


def test_a_keyed_person_key_is_stable_for_one_secret() -> None:
    key = person_key(STANDARD_EXAMPLE, SECRET)
    # Pinned: a store's ledgers join people across cohorts by this key, so for one secret it must never drift.
    assert key == "124c263ea8e9bc413da7e3a7"
    assert person_key(STANDARD_EXAMPLE, SECRET) == PersonKeys(SECRET).of(STANDARD_EXAMPLE) == key
    assert STANDARD_EXAMPLE not in key and len(key) == 24
    assert person_key(_with_check("11010519491231003"), SECRET) != key


def test_two_stores_secrets_key_the_same_person_differently() -> None:
    assert person_key(STANDARD_EXAMPLE, SECRET) != person_key(STANDARD_EXAMPLE, OTHER_SECRET)
    assert PersonKeys(SECRET).of(STANDARD_EXAMPLE) != PersonKeys(OTHER_SECRET).of(STANDARD_EXAMPLE)
    assert person_key(STANDARD_EXAMPLE, SECRET) != person_key(STANDARD_EXAMPLE, None)


def test_the_legacy_unkeyed_scheme_is_the_plain_hash_recorded_before_secrets() -> None:
    # Pinned: stores that recorded keys this way keep matching their people by them.
    assert person_key(STANDARD_EXAMPLE, None) == "4e480a2f68f2afcefacdf180"
    assert PersonKeys(None).of(STANDARD_EXAMPLE) == "4e480a2f68f2afcefacdf180"
    assert PersonKeys(None).legacy and not PersonKeys(SECRET).legacy


def test_a_masked_id_and_a_keyed_person_key_do_not_give_the_number_back() -> None:
    """Knowing all but the sequence digits, trying each finds the number from an unkeyed key, not a keyed one."""
    nid = STANDARD_EXAMPLE
    candidates = [_with_check(f"{nid[:14]}{seq:03d}") for seq in range(1000)]
    candidates = [c for c in candidates if c[-1] == mask(nid)[-1]]
    legacy = person_key(nid, None)
    assert [c for c in candidates if person_key(c, None) == legacy] == [nid]
    keyed = person_key(nid, SECRET)
    assert [c for c in candidates if person_key(c, None) == keyed or person_key(c, OTHER_SECRET) == keyed] == []


def test_the_secret_is_never_shown_and_must_be_long_enough() -> None:
    assert SECRET.hex() not in repr(PersonKeys(SECRET)) and str(SECRET) not in repr(PersonKeys(SECRET))
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PersonKeys(b"short")


@pytest.mark.parametrize("secret", [None, SECRET])
def test_person_key_of_a_validated_lower_case_id_matches_the_upper_case_one(secret: bytes | None) -> None:
    upper = _id_ending_in_x()
    assert person_key(validate(upper.lower()), secret) == person_key(upper, secret)


first17s = st.builds(
    lambda area, born, seq: f"{area:06d}{born:%Y%m%d}{seq:03d}",
    st.integers(0, 999_999),
    st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
    st.integers(0, 999),
)


@settings(max_examples=300)
@given(first17=first17s, data=st.data())
def test_only_the_computed_check_character_validates(first17: str, data: st.DataObject) -> None:
    expected = check_char(first17)
    assert expected in "0123456789X"
    assert validate(first17 + expected) == first17 + expected

    other = data.draw(st.sampled_from([c for c in "0123456789X" if c != expected]), label="other")
    with pytest.raises(InvalidNationalId, match=rf"^check digit is {other}, expected {expected}$"):
        validate(first17 + other)
