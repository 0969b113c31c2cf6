"""The whole role × permission table, written out independently of GRANTS."""

from __future__ import annotations

import pytest

from cohortflow.access.roles import ROLES, Permission, Principal, Role, as_role

EXPECTED: dict[str, set[Role]] = {
    "programmes:read": {"admin", "coordinator", "auditor"},
    "programmes:write": {"admin"},
    "cohorts:read": {"admin", "coordinator", "auditor", "reminder"},
    "cohorts:start": {"admin"},
    "cohorts:steer": {"admin"},
    "imports:write": {"admin", "coordinator"},
    "exports:read": {"admin", "coordinator", "auditor"},
    "audit:read": {"admin", "auditor"},
    "national_ids:read": {"admin", "auditor"},
    "reminders:read": {"admin", "reminder"},
    "certificates:issue": {"admin", "coordinator"},
    "people:read": {"admin", "coordinator", "auditor", "school", "reviewer"},
    "reviews:write": {"admin", "coordinator", "reviewer"},
    "reviews:submit": {"admin", "coordinator", "school"},
    "recognition:decide": {"admin", "coordinator", "school", "reviewer"},
    "people:write": {"admin", "coordinator"},
    "credits:write": {"admin", "coordinator", "school"},
    "accounts:manage": {"admin"},
}
NATIONAL_ID = "11010519491231002X"


def principal(role: Role, prefecture: str | None = None) -> Principal:
    return Principal(token_id="t1", name="someone", role=role, prefecture=prefecture)


def test_the_table_names_every_permission_and_role() -> None:
    assert set(EXPECTED) == {p.value for p in Permission}
    assert set(ROLES) == {"admin", "coordinator", "auditor", "reminder", "school", "reviewer"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", list(Permission))
def test_role_has_exactly_its_grants(role: Role, permission: Permission) -> None:
    who = principal(role, "430100" if role == "coordinator" else None)
    assert who.can(permission) is (role in EXPECTED[permission.value])


def test_actor_names_role_and_holder() -> None:
    assert principal("auditor").actor == "auditor:someone"


def test_a_school_and_a_district_reviewer_are_scoped_to_their_county_inside_its_prefecture() -> None:
    school = Principal(token_id="t2", name="一中", role="school", prefecture="430100", county="430104", school="一中")
    reviewer = Principal(token_id="t3", name="wang", role="reviewer", prefecture="430100", county="430104")
    assert (school.prefecture_scope, school.county_scope, school.school_scope) == ("430100", "430104", "一中")
    assert (reviewer.prefecture_scope, reviewer.county_scope, reviewer.school_scope) == ("430100", "430104", None)
    assert principal("coordinator", "430100").county_scope is None


def test_only_coordinators_are_scoped_to_a_prefecture() -> None:
    coordinator = principal("coordinator", "430100")
    assert coordinator.prefecture_scope == "430100"
    assert coordinator.covers("430100") and not coordinator.covers("430200")
    for role in ("admin", "auditor", "reminder"):
        assert principal(role).prefecture_scope is None and principal(role).county_scope is None
        assert principal(role).covers("430200")


@pytest.mark.parametrize("role", ROLES)
def test_id_numbers_are_masked_unless_the_role_may_read_them(role: Role) -> None:
    shown = principal(role, "430100" if role == "coordinator" else None).show_id(NATIONAL_ID)
    if role in ("admin", "auditor"):
        assert shown == NATIONAL_ID
    else:
        assert shown == "110105***********X"


def test_as_role_names_the_roles_when_refusing() -> None:
    assert as_role("reminder") == "reminder"
    with pytest.raises(
        ValueError, match="unknown role 'root'; the roles are admin, coordinator, auditor, reminder, school"
    ):
        as_role("root")
