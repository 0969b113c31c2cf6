"""Chinese resident ID numbers (居民身份证号): validation, masking and person keys.

Eighteen characters: a six-digit division code, an eight-digit birth date, a
three-digit sequence and an ISO 7064 MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from cohortflow.domain.phrases import phrase

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


class InvalidNationalId(ValueError):
    """An ID number that is not a well-formed resident ID."""


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first seventeen digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise InvalidNationalId(phrase("expected 17 digits before the check character"))
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def validate(raw: str) -> str:
    """Return the normalised ID (upper-case X) or raise with the precise reason."""
    value = raw.strip().upper()
    if len(value) != 18:
        raise InvalidNationalId(phrase("must be 18 characters, got {length}", length=len(value)))
    if not (value[:17].isascii() and value[:17].isdigit()):
        raise InvalidNationalId(phrase("the first 17 characters must be digits"))
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidNationalId(phrase("birth date {birth} is not a real date", birth=value[6:14])) from None
    expected = check_char(value[:17])
    if value[17] != expected:
        raise InvalidNationalId(
            phrase("check digit is {found}, expected {expected}", found=value[17], expected=expected)
        )
    return value


def mask(value: str) -> str:
    """Keep the division code and the check character, hide the rest."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]


def masked_parts(masked: str) -> tuple[str, int, str]:
    """What a number masked by :func:`mask` still shows: its division code, its length and its check character."""
    value = masked.strip().upper()
    hidden = value[6:-1]
    if not (len(value) == 18 and value[:6].isascii() and value[:6].isdigit() and hidden == "*" * len(hidden)):
        raise InvalidNationalId(phrase("a masked ID number is six digits, eleven * and the check character"))
    if value[-1] not in _CHECK_CHARS:
        raise InvalidNationalId(phrase("{char} is not a check character (0-9 or X)", char=value[-1]))
    return value[:6], len(value), value[-1]


KEY_HEX_DIGITS = 24
_KEY_PREFIX = b"cohortflow-person:"


def person_key(value: str, secret: bytes | None) -> str:
    """A stable pseudonymous key for a person across a store's cohorts (credit ledgers, duplicate checks).

    With the store's ``secret``, an HMAC-SHA256 of the normalised number: without the secret, nobody who
    knows part of a number (a masked one shows 7 of its 18 characters) can search the rest against the key.
    ``secret`` None is the legacy unkeyed scheme (a plain SHA-256), kept only by stores that recorded keys
    that way before keyed ones existed, so that their people keep matching.
    """
    message = _KEY_PREFIX + value.encode()
    digest = hashlib.sha256(message) if secret is None else hmac.new(secret, message, hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX_DIGITS]


@dataclass(frozen=True)
class PersonKeys:
    """How one store keys people: its secret (None: the legacy unkeyed scheme), passed in by the caller.

    The domain reads no database; activities take this from ``EventStore.person_keys`` and hand it to the
    checks that key people (nominations, rosters).
    """

    secret: bytes | None = field(repr=False)

    def __post_init__(self) -> None:
        if self.secret is not None and len(self.secret) < 16:
            raise ValueError("a person-key secret needs at least 16 bytes")

    @property
    def legacy(self) -> bool:
        return self.secret is None

    def of(self, value: str) -> str:
        """The key of a normalised ID number (see :func:`validate`)."""
        return person_key(value, self.secret)


def checked(raw: str, where: str) -> tuple[str, list[str]]:
    """The normalised number, or "" with the problem of an import row (``where`` names the row)."""
    try:
        return validate(raw), []
    except InvalidNationalId as exc:
        return "", [phrase("{where}, national_id: {problem}", where=where, problem=exc)]
