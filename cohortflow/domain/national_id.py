"""Chinese resident ID numbers (居民身份证号): validation and masking.

Eighteen characters: a six-digit division code, an eight-digit birth date, a
three-digit sequence and an ISO 7064 MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

import hashlib
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


class InvalidNationalId(ValueError):
    """An ID number that is not a well-formed resident ID."""


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first seventeen digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise InvalidNationalId("expected 17 digits before the check character")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def validate(raw: str) -> str:
    """Return the normalised ID (upper-case X) or raise with the precise reason."""
    value = raw.strip().upper()
    if len(value) != 18:
        raise InvalidNationalId(f"must be 18 characters, got {len(value)}")
    if not (value[:17].isascii() and value[:17].isdigit()):
        raise InvalidNationalId("the first 17 characters must be digits")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidNationalId(f"birth date {value[6:14]} is not a real date") from None
    expected = check_char(value[:17])
    if value[17] != expected:
        raise InvalidNationalId(f"check digit is {value[17]}, expected {expected}")
    return value


def mask(value: str) -> str:
    """Keep the division code and the check character, hide the rest."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]


def person_key(value: str) -> str:
    """A stable pseudonymous key for a person across cohorts (for credit ledgers)."""
    return hashlib.sha256(("cohortflow-person:" + value).encode()).hexdigest()[:24]


def checked(raw: str, where: str) -> tuple[str, list[str]]:
    """The normalised number, or "" with the problem of an import row (``where`` names the row)."""
    try:
        return validate(raw), []
    except InvalidNationalId as exc:
        return "", [f"{where}, national_id: {exc}"]
