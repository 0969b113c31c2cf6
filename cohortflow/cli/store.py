"""One-off CLI commands on the store: DATABASE_URL, or the embedded store under the state dir.

They do not migrate: a store whose schema is not the code's is refused with the
command that migrates it (`cohortflow migrate`; `cohortflow up` migrates at start).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.cli.messages import _, said
from cohortflow.cli.state_dir import usable_state_dir

if TYPE_CHECKING:
    from cohortflow.store.eventstore import EventStore

T = TypeVar("T")
err = Console(stderr=True)

Schema = Literal["head", "any", "unchecked"]
"""What a command needs of the store's schema: the code's head revision, any migrated one
(a backup may be taken before migrating), or nothing (the migrate command itself)."""


@contextmanager
def database(schema: Schema = "head") -> Iterator[str]:
    """The configured database, or the embedded one (started for the command unless `cohortflow up` runs it)."""
    from cohortflow.runtime.postgres import embedded_database
    from cohortflow.settings import Settings

    settings = Settings()
    if settings.database_url is not None:
        _require(settings.database_url, schema)
        yield settings.database_url
        return
    with embedded_database(usable_state_dir(settings.state_dir).resolve() / "postgres") as url:
        _require(url, schema)
        yield url


def schema_problem(database_url: str, schema: Schema = "head") -> str | None:
    """Why the store's schema does not suit a command that needs ``schema``; None when it does."""
    if schema == "unchecked":
        return None
    from cohortflow.store.migrate import head_revision, known_revisions

    current = store_revision(database_url)
    hint = _("run `cohortflow migrate` (or start the service with `cohortflow up`, which migrates) first")
    if current is None:
        return _("the store has no schema yet: {hint}; nothing was changed").format(hint=hint)
    if current not in known_revisions():
        return _(
            "the store's schema is at revision {current}, which this version of cohortflow does not know "
            "(a newer version migrated it): use that version; nothing was changed"
        ).format(current=current)
    head = head_revision()
    if schema == "head" and current != head:
        return _(
            "the store's schema is at revision {current}, this cohortflow needs {head}: {hint}; nothing was changed"
        ).format(current=current, head=head, hint=hint)
    return None


def store_revision(database_url: str) -> str | None:
    """The Alembic revision the store is at, read from ``alembic_version`` (None if it was never migrated)."""
    import psycopg
    from sqlalchemy import column, func, select, table

    from cohortflow.store.sql import Statement

    # Alembic's own table: not one of the store's (cohortflow.store.tables), and absent before the first migration.
    versions = table("alembic_version", column("version_num"))
    exists, current = Statement(select(func.to_regclass(versions.name).is_not(None))), Statement(select(versions))
    with psycopg.connect(database_url) as conn:
        found = conn.execute(exists.sql, exists.args()).fetchone()
        if found is None or not found[0]:
            return None
        row = conn.execute(current.sql, current.args()).fetchone()
    return None if row is None else str(row[0])


def _require(database_url: str, schema: Schema) -> None:
    problem = schema_problem(database_url, schema)
    if problem is not None:
        err.print(f"[red]{escape(problem)}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def run_on_store(
    work: Callable[[EventStore], Awaitable[T]], refusals: tuple[type[Exception], ...] = (), *, max_size: int = 4
) -> T:
    """Run ``work`` against the store; a refusal is printed in red and exits with code 2."""
    import asyncio

    from cohortflow.store.eventstore import EventStore

    async def main(url: str) -> T:
        store = await EventStore.connect(url, max_size=max_size)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        with database() as url:
            return asyncio.run(main(url))
    except refusals as exc:
        err.print(f"[red]{escape(said(str(exc)))}[/]", highlight=False)
        raise typer.Exit(2) from None
