"""Roles, the permissions each grants, and the authenticated principal.

Grants are a closed table rather than a hierarchy so that the whole policy can be
read (and tested) in one place. A coordinator's grants are further limited to
their own prefecture, a district reviewer's to a county and a school's to its
school; that scope cannot be expressed as a permission, so callers check it
(``Principal.prefecture_scope``, ``county_scope``, ``school_scope``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from cohortflow.domain.national_id import mask
from cohortflow.domain.phrases import phrase

Role = Literal["admin", "coordinator", "auditor", "reminder", "school", "reviewer"]
ROLES: tuple[Role, ...] = get_args(Role)


class Permission(StrEnum):
    PROGRAMMES_READ = "programmes:read"
    PROGRAMMES_WRITE = "programmes:write"
    COHORTS_READ = "cohorts:read"
    COHORTS_START = "cohorts:start"
    COHORTS_STEER = "cohorts:steer"  # an admin's Updates to a running cohort
    IMPORTS_WRITE = "imports:write"
    EXPORTS_READ = "exports:read"
    AUDIT_READ = "audit:read"
    NATIONAL_IDS_READ = "national_ids:read"  # may see ID numbers unmasked
    REMINDERS_READ = "reminders:read"  # the reminder service reads who to remind
    CERTIFICATES_ISSUE = "certificates:issue"  # issue completion certificates and print them
    PEOPLE_READ = "people:read"  # the credit bank's registry and a person's standing
    REVIEWS_WRITE = "reviews:write"  # open a district's annual review, approve or return lists
    REVIEWS_SUBMIT = "reviews:submit"  # submit a school's list to its district's annual review
    RECOGNITION_DECIDE = "recognition:decide"  # approve or refuse claims of the reviewer's own level and unit
    PEOPLE_WRITE = "people:write"  # the credit bank's people files and corrections
    CREDITS_WRITE = "credits:write"  # the credit bank's credits files and reversals
    ACCOUNTS_MANAGE = "accounts:manage"  # create and disable the console's accounts


GRANTS: Mapping[Role, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "coordinator": frozenset(
        {
            Permission.PROGRAMMES_READ,
            Permission.COHORTS_READ,
            Permission.IMPORTS_WRITE,
            Permission.EXPORTS_READ,
            Permission.CERTIFICATES_ISSUE,
            Permission.PEOPLE_READ,
            Permission.REVIEWS_WRITE,
            Permission.REVIEWS_SUBMIT,
            Permission.RECOGNITION_DECIDE,
            Permission.PEOPLE_WRITE,
            Permission.CREDITS_WRITE,
        }
    ),
    "auditor": frozenset(
        {
            Permission.PROGRAMMES_READ,
            Permission.COHORTS_READ,
            Permission.EXPORTS_READ,
            Permission.AUDIT_READ,
            Permission.NATIONAL_IDS_READ,
            Permission.PEOPLE_READ,
        }
    ),
    "reminder": frozenset({Permission.COHORTS_READ, Permission.REMINDERS_READ}),
    # A school records its own staff's school-level credits and submits its list; it decides its own
    # school-level recognition claims.
    "school": frozenset(
        {Permission.PEOPLE_READ, Permission.CREDITS_WRITE, Permission.REVIEWS_SUBMIT, Permission.RECOGNITION_DECIDE}
    ),
    # A district reviewer decides its county's annual review and its district-level recognition claims.
    "reviewer": frozenset({Permission.PEOPLE_READ, Permission.REVIEWS_WRITE, Permission.RECOGNITION_DECIDE}),
}
SCOPED_ROLES: frozenset[Role] = frozenset({"coordinator", "school", "reviewer"})
"""Roles bound to a prefecture (a school and a district reviewer through their county)."""


def is_prefecture_code(value: str) -> bool:
    """A six-digit division code: a prefecture's, or a county's."""
    return len(value) == 6 and value.isascii() and value.isdigit()


def prefecture_of(county: str) -> str:
    """The prefecture a county belongs to: its first four digits and 00 (430104 is in 430100)."""
    return county[:4] + "00"


def as_role(value: str) -> Role:
    """``value`` as a Role, or ValueError naming the roles there are."""
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(phrase("unknown role {value}; the roles are {roles}", value=repr(value), roles=", ".join(ROLES)))


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role
    prefecture: str | None
    county: str | None = None
    """A school's or a district reviewer's county (six digits)."""
    school: str | None = None
    """A school token's school."""

    @property
    def actor(self) -> str:
        """How this principal is named in event metadata and the query journal."""
        return f"{self.role}:{self.name}"

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    @property
    def prefecture_scope(self) -> str | None:
        """The one prefecture a coordinator (or a school or district reviewer, inside it) is limited to; None
        means every prefecture."""
        return self.prefecture if self.role in SCOPED_ROLES else None

    @property
    def county_scope(self) -> str | None:
        """The county a school or a district reviewer is limited to; None: no county limit."""
        return self.county if self.role in ("school", "reviewer") else None

    @property
    def school_scope(self) -> str | None:
        """The school a school's token is limited to; None: no school limit."""
        return self.school if self.role == "school" else None

    def covers(self, prefecture_code: str) -> bool:
        scope = self.prefecture_scope
        return scope is None or scope == prefecture_code

    @property
    def sees_identities(self) -> bool:
        """Whether this principal may see what identifies a person: whole ID numbers and person keys."""
        return self.can(Permission.NATIONAL_IDS_READ)

    def show_id(self, national_id: str) -> str:
        return national_id if self.sees_identities else mask(national_id)

    def show_person_key(self, person_key: str | None) -> str | None:
        """The person key, or None for a role that sees ID numbers masked.

        A key is a fixed function of the whole ID number: shown next to a masked number it
        would let a reader test the hidden digits against it, so it goes with the whole number.
        """
        return person_key if self.sees_identities else None

    def shown(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Replacements for the identifying fields of ``fields`` (a row, or an event's data) as this principal
        may see them: ``national_id`` masked and ``person_key`` None unless the role may read ID numbers."""
        replaced: dict[str, Any] = {}
        if "national_id" in fields:
            replaced["national_id"] = self.show_id(fields["national_id"])
        if "person_key" in fields:
            replaced["person_key"] = self.show_person_key(fields["person_key"])
        return replaced
