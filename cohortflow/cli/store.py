"""One-off CLI commands on the store: DATABASE_URL, or the embedded store under the state dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.cli.state_dir import usable_state_dir

if TYPE_CHECKING:
    from cohortflow.store.eventstore import EventStore

T = TypeVar("T")
err = Console(stderr=True)


@contextmanager
def database() -> Iterator[str]:
    """The configured database, or the embedded one (started for the command unless `cohortflow up` runs it)."""
    from cohortflow.runtime.postgres import embedded_database
    from cohortflow.settings import Settings
    from cohortflow.store.migrate import upgrade

    settings = Settings()
    if settings.database_url is not None:
        yield settings.database_url
        return
    with embedded_database(usable_state_dir(settings.state_dir).resolve() / "postgres") as url:
        upgrade(url)
        yield url


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
        err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(2) from None
