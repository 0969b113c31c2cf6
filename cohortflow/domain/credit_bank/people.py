"""Teachers and principals as the credit bank knows them: the facts a requirement asks about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Post = Literal["principal", "party_secretary", "vice_principal", "teacher"]


@dataclass(frozen=True)
class Person:
    person_key: str
    post: Post
    took_post_on: date | None = None
    """The day they took their present post; a qualification requirement counts from it."""
    born_on: date | None = None
    """From the ID number: no hours are earned before it."""
