"""Apply the Alembic migrations to a database, and name the revision the code expects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"

# How autogenerate compares the tables (cohortflow.store.tables) with a store: column types and server defaults
# too, which a drifted migration gets wrong as easily as a missing column.
COMPARE: dict[str, Any] = {"compare_type": True, "compare_server_default": True}


def sqlalchemy_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return "postgresql+psycopg" + sep + rest if scheme in ("postgresql", "postgres") else url


def upgrade(database_url: str, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    command.upgrade(config, revision)


def head_revision() -> str:
    """The revision a store must be at for this code (the migrations' single head)."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations directory holds revisions"
    return head


def known_revisions() -> set[str]:
    """Every revision this code's migrations know, to tell a store behind the code from one ahead of it."""
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
