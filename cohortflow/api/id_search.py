"""A search by ID number as a role may make it: a role shown ID numbers masked searches by the masked number (its
division code, length and check character still show); a role that reads them may give the whole number too."""

from __future__ import annotations

from typing import Any

from cohortflow.access.roles import Permission, Principal
from cohortflow.domain.national_id import InvalidNationalId, masked_parts, validate
from cohortflow.domain.phrases import phrase

ID_SEARCH = (
    "An ID number as your role is shown it: masked (`430102***********5`) or, for a role that reads ID numbers, whole"
)


def id_search(national_id: str | None, principal: Principal) -> dict[str, Any]:
    """The ID number part of a search: whole for a role that reads ID numbers, else masked as the role is shown.
    A number that is neither is a ``ValueError`` saying why."""
    if not national_id:
        return {}
    try:
        if "*" in national_id:
            return {"masked_id": masked_parts(national_id)}
        if not principal.can(Permission.NATIONAL_IDS_READ):
            raise ValueError(phrase("your role is shown ID numbers masked: search by the masked number"))
        return {"national_id": validate(national_id)}
    except InvalidNationalId as exc:
        raise ValueError(phrase("national_id: {problem}", problem=exc)) from None
