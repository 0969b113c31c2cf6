"""The text a request body may carry: bounded, and free of control characters.

Everything a command says is recorded for good, so its length is bounded before
anything runs; a NUL would be refused by PostgreSQL only once a workflow had
taken the command, so it is refused here with the field's name (422).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from cohortflow.domain.phrases import phrase


def _printable(value: str) -> str:
    if any((ord(c) < 0x20 and c not in "\t\n\r") or ord(c) == 0x7F for c in value):
        raise ValueError(phrase("holds a control character (such as NUL); remove it"))
    return value


Code = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_printable)]
"""An id or code: a programme, a block, a participant."""
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), AfterValidator(_printable)
]
"""Why an administrator acts; kept with the event it causes (blank is no reason)."""
Value = Annotated[str, StringConstraints(max_length=200), AfterValidator(_printable)]
"""A corrected value: a name, a school, a role, a number."""
