"""Apply the Alembic migrations to a database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def sqlalchemy_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return "postgresql+psycopg" + sep + rest if scheme in ("postgresql", "postgres") else url


def upgrade(database_url: str, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    command.upgrade(config, revision)
