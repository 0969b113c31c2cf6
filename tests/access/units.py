"""The unit a test token of each role is bound to: a coordinator's prefecture, a school's and a district
reviewer's county in it (and the school's name)."""

from __future__ import annotations

from cohortflow.access.roles import Role

SCHOOL = "第一中学"


def county_in(prefecture: str) -> str:
    return prefecture[:4] + "04"


def unit_for(role: Role, prefecture: str) -> dict[str, str | None]:
    """``issue_token``'s prefecture, county and school for a token of ``role`` inside ``prefecture``."""
    return {
        "prefecture": prefecture if role == "coordinator" else None,
        "county": county_in(prefecture) if role in ("school", "reviewer") else None,
        "school": SCHOOL if role == "school" else None,
    }
