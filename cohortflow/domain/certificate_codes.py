"""Certificate verification codes: sixteen Crockford base32 characters, printed in groups of four.

Eighty random bits make a code nobody can guess, and the code is worth something only
because it is recorded in the hash-chained history: a code invented on a forged sheet
is in no ``CertificateIssued`` event. Crockford's alphabet has no I, L, O or U, so a
code read off paper is forgiving: lower case, I and L (read as 1), O (read as 0),
spaces and hyphens are all taken.
"""

from __future__ import annotations

from cohortflow.domain.phrases import phrase

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
GROUP = 4
RANDOM_BYTES = LENGTH * 5 // 8
"""Each character carries five bits: ten random bytes are exactly sixteen characters."""
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


class MalformedCode(ValueError):
    """Text that cannot be a verification code (whatever the history holds)."""


def new_code(random: bytes) -> str:
    """The code of ``random`` (ten bytes from a cryptographic source), grouped as printed: ``ABCD-EFGH-JKMN-PQRS``."""
    if len(random) != RANDOM_BYTES:
        raise ValueError(f"a code takes {RANDOM_BYTES} random bytes, not {len(random)}")
    number = int.from_bytes(random, "big")
    chars = [ALPHABET[(number >> shift) & 31] for shift in range(5 * (LENGTH - 1), -1, -5)]
    return grouped("".join(chars))


def grouped(compact: str) -> str:
    return "-".join(compact[i : i + GROUP] for i in range(0, len(compact), GROUP))


def parse_code(text: str) -> str:
    """``text`` as the code's printed form, or MalformedCode saying why it cannot be one."""
    compact = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(compact) != LENGTH:
        raise MalformedCode(
            phrase(
                "a verification code has {length} characters (0-9 and the letters but I, L, O and U), not {count}",
                length=LENGTH,
                count=len(compact),
            )
        )
    wrong = sorted({c for c in compact if c not in ALPHABET})
    if wrong:
        shown = ", ".join(repr(c) for c in wrong)
        raise MalformedCode(
            phrase("a verification code has no {shown}: it holds 0-9 and the letters but I, L, O and U", shown=shown)
        )
    return grouped(compact)
