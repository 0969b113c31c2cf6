"""`cohortflow reminder ...`: run the reminder dispatcher, and list the messages it gave up.

Both work straight on the store (DATABASE_URL, or the embedded one under the
state directory), like the token and audit commands. ``python -m
cohortflow.cli.reminders`` is the same app without the rest of the CLI's imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cohortflow.cli.display import print_table, when
from cohortflow.cli.groups import sub_app

if TYPE_CHECKING:
    import asyncio

    from cohortflow.reminders.delivery import GivenUp
    from cohortflow.reminders.dispatcher import DispatchCounts
    from cohortflow.settings import Settings
    from cohortflow.store.eventstore import EventStore

app = sub_app("reminder")
console = Console()
err = Console(stderr=True)


def channels_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host or settings.webhook_url)


async def _with_dispatcher(settings: Settings, database_url: str, stop: asyncio.Event | None) -> DispatchCounts | None:
    from cohortflow.reminders.dispatcher import Dispatcher
    from cohortflow.store.eventstore import EventStore

    # One connection per message being recorded, and one for claims.
    pool = min(2 + settings.smtp_connections + settings.webhook_connections, 16)
    store = await EventStore.connect(database_url, max_size=pool)
    try:
        dispatcher = await Dispatcher.from_settings(store, settings)
        try:
            if stop is None:
                return await dispatcher.run_once()
            await dispatcher.run(stop)
            return None
        finally:
            await dispatcher.close()
    finally:
        await store.close()


async def serve_dispatcher(settings: Settings, database_url: str, stop: asyncio.Event) -> None:
    """Run the dispatcher the settings configure until ``stop`` is set (``cohortflow up`` runs it this way)."""
    await _with_dispatcher(settings, database_url, stop)


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    if settings.database_url is not None:
        yield settings.database_url  # without importing the migrations (alembic): a dispatcher starts sooner
        return
    from cohortflow.cli.store import database

    with database() as url:
        yield url


def _describe(counts: DispatchCounts) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in asdict(counts).items())


@app.command()
def dispatch(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, print the counts and exit")] = False,
) -> None:
    """Send queued reminders through the configured channels until Ctrl-C or SIGTERM."""
    import asyncio
    import signal

    from cohortflow.cli.messages import said
    from cohortflow.logs import configure_logging
    from cohortflow.reminders.dispatcher import configuration_problem
    from cohortflow.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if not channels_configured(settings):
        err.print("[red]no channel configured: set COHORTFLOW_SMTP_HOST and/or COHORTFLOW_WEBHOOK_URL[/]")
        raise typer.Exit(2)
    problem = configuration_problem(settings)
    if problem is not None:
        err.print(f"[red]{escape(said(problem))}[/]", highlight=False)
        raise typer.Exit(2)

    async def forever(url: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _with_dispatcher(settings, url, stop)

    with _database(settings) as url:
        if once:
            counts = asyncio.run(_with_dispatcher(settings, url, None))
            assert counts is not None
            console.print(_describe(counts))
        else:
            asyncio.run(forever(url))


@app.command()
def failures(
    cohort: Annotated[str | None, typer.Option(help="Only this cohort's messages")] = None,
) -> None:
    """Messages given up (no address, refused, or too many failed attempts), with the reason."""
    from cohortflow.cli.store import run_on_store
    from cohortflow.reminders.delivery import Delivery

    async def work(store: EventStore) -> list[GivenUp]:
        return await Delivery(store).given_up(cohort)

    given_up = run_on_store(work, max_size=1)
    if not given_up:
        console.print("no reminders given up" + (f" in cohort {escape(cohort)}" if cohort else ""))
        return
    table = Table(title=f"{len(given_up)} reminder(s) given up")
    for column in ("cohort", "reminder", "recipient", "channel", "address", "attempts", "reason", "when"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for g in given_up:
        table.add_row(
            escape(g.cohort_id),
            escape(g.reminder),
            escape(g.recipient),
            g.channel,
            escape(g.address or ""),
            str(g.attempts),
            escape(g.reason),
            when(g.at),
        )
    print_table(console, table)


if __name__ == "__main__":
    app()
