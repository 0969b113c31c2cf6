"""The tables the queries use (cohortflow.store.tables) are the tables the migrations make: autogenerate finds nothing.

Autogenerate compares tables, columns (type, nullability, server default), primary and unique keys, foreign keys
and indexes, expression indexes included. It does not compare CHECK constraints, a partial index's WHERE, table
storage options (fillfactor) or triggers: the tables module writes those down, and the migrations remain their
source.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pprint import pformat
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, DefaultClause, Index, Integer, MetaData, Table, create_engine, func

from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.migrate import COMPARE, sqlalchemy_url, upgrade
from cohortflow.store.tables import metadata


@pytest.fixture(scope="module")
def migrated(postgres: EmbeddedPostgres) -> Iterator[Connection]:
    """A database of its own, upgraded to head from empty (not cloned from the session's template)."""
    url = postgres.ensure_database(f"tables_{uuid.uuid4().hex[:12]}")
    upgrade(url)
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def differences(connection: Connection, target: MetaData) -> list[Any]:
    found: list[Any] = compare_metadata(MigrationContext.configure(connection, opts=COMPARE), target)
    return found


def test_the_tables_are_what_the_migrations_make(migrated: Connection) -> None:
    found = differences(migrated, metadata)
    assert found == [], "cohortflow.store.tables and the migrations differ:\n" + pformat(found)


def copy() -> MetaData:
    copied = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(copied)
    return copied


def retype(m: MetaData) -> None:
    m.tables["rm_people"].c.post.type = Integer()


def allow_null(m: MetaData) -> None:
    m.tables["reminder_outbox"].c.subject.nullable = True


def default_english(m: MetaData) -> None:
    m.tables["rm_participants"].c.locale.server_default = DefaultClause("en")


def add_column(m: MetaData) -> None:
    m.tables["rm_cohorts"].append_column(Column("paused", Integer))


def forget_table(m: MetaData) -> None:
    m.remove(m.tables["console_sessions"])


def change_expression_index(m: MetaData) -> None:
    people = m.tables["rm_people"]
    people.indexes.discard(next(index for index in people.indexes if index.name == "rm_people_by_id_ends"))
    Index("rm_people_by_id_ends", func.left(people.c.national_id, 4), func.right(people.c.national_id, 1))


def forget_unique(m: MetaData) -> None:
    tokens: Table = m.tables["access_tokens"]
    tokens.constraints = {c for c in tokens.constraints if c.name != "access_tokens_secret_sha256_key"}


@pytest.mark.parametrize(
    ("alter", "reported"),
    [
        (retype, "modify_type"),
        (allow_null, "modify_nullable"),
        (default_english, "modify_default"),
        (add_column, "add_column"),
        (forget_table, "remove_table"),
        (change_expression_index, "add_index"),
        (forget_unique, "remove_constraint"),
    ],
)
def test_a_drifted_table_is_reported(migrated: Connection, alter: Callable[[MetaData], None], reported: str) -> None:
    drifted = copy()
    alter(drifted)
    found = differences(migrated, drifted)
    # A column change comes as a list of changes to one column; everything else as one tuple.
    kinds = {change[0][0] if isinstance(change, list) else change[0] for change in found}
    assert reported in kinds, pformat(found)
