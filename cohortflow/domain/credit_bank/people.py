"""Teachers and principals as the credit bank knows them: the registry's facts, and those a requirement asks about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

Post = Literal["principal", "party_secretary", "vice_principal", "teacher"]
POST_NAMES: dict[str, Post] = {
    **{post: post for post in get_args(Post)},
    "校长": "principal",
    "书记": "party_secretary",
    "党支部书记": "party_secretary",
    "副校长": "vice_principal",
    "教师": "teacher",
}
"""How an office writes a post, in English or Chinese."""
PersonField = Literal[
    "name", "post", "took_post_on", "school", "county_code", "prefecture_code", "school_level", "subject"
]
"""The registry's facts a correction may change; the national ID is the person's identity and never changes."""


@dataclass(frozen=True)
class Person:
    person_key: str
    post: Post
    took_post_on: date | None = None
    """The day they took their present post; a qualification requirement counts from it."""
    born_on: date | None = None
    """From the ID number: no hours are earned before it."""


class PersonFacts(BaseModel):
    """A registered person's facts as they stand after every correction."""

    model_config = ConfigDict(frozen=True)

    person_key: str
    name: str
    national_id: str
    post: Post
    took_post_on: date | None
    school: str
    county_code: str
    prefecture_code: str
    school_level: str | None
    subject: str

    def person(self) -> Person:
        born = self.national_id[6:14]
        return Person(
            self.person_key,
            self.post,
            self.took_post_on,
            date(int(born[:4]), int(born[4:6]), int(born[6:])) if born.isdigit() else None,
        )

    def shown(self, field: PersonField) -> str | None:
        """``field`` as a correction records it: text, a date in ISO form, or None."""
        value = getattr(self, field)
        return None if value is None else str(value)

    def corrected(self, field: PersonField, value: str | None) -> PersonFacts:
        return PersonFacts.model_validate({**self.model_dump(), field: value})
