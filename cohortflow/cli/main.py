"""The `cohortflow` command line (Typer + rich).

Only Typer and rich load with it: each command imports what it runs (the API,
Temporal, the store, the migrations) when it runs, so `--help` and the admin
commands, which only talk HTTP, start quickly.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.cli.backup import backup, restore
from cohortflow.cli.groups import PLAIN_HELP, LazyGroups
from cohortflow.cli.messages import Language, said, use
from cohortflow.cli.state_dir import usable_state_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from cohortflow.demo.block_cycle import BlockDemoReport
    from cohortflow.demo.cycle import DemoReport
    from cohortflow.demo.feeding import Progress
    from cohortflow.domain.template import ProgrammeTemplate
    from cohortflow.store.eventstore import EventStore

app = typer.Typer(
    cls=LazyGroups,
    rich_markup_mode=PLAIN_HELP,
    no_args_is_help=True,
    help="Event-sourced training-programme cycles on Temporal and PostgreSQL.",
)
app.command()(backup)
app.command()(restore)
console = Console()


@app.callback()
def choose_language(
    ctx: typer.Context,
    lang: Annotated[
        Language | None,
        typer.Option("--lang", help="Language of the messages, zh or en (default: from LC_ALL, LC_MESSAGES or LANG)"),
    ] = None,
) -> None:
    use(lang)
    ctx.call_on_close(lambda: use(None))  # a process that runs several commands (the tests) starts each afresh


@app.command()
def demo(
    candidates: Annotated[int, typer.Option(help="Nominations across the 14 prefectures")] = 5000,
    selected: Annotated[int, typer.Option(help="Places in the offline phase")] = 800,
    seed: Annotated[int, typer.Option(help="Seed of the generated people and their records")] = 2023,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables")] = False,
    keep: Annotated[Path | None, typer.Option(help="Keep the demo's state in this directory")] = None,
    programme: Annotated[
        Path | None,
        typer.Option(
            help="A block template (YAML or JSON) to run instead, its people and data generated and imported",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Run the province-wide sample cohort (or any block template's) fed through imports, and print its summary.

    Programme time passes on Temporal's time-skipping server: years in seconds, every date as it would be."""
    import asyncio

    from rich.live import Live

    from cohortflow.demo.feeding import FeedRefused
    from cohortflow.logs import configure_logging
    from cohortflow.runtime.time_skipping import time_skipping_stack
    from cohortflow.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format, "warning")
    template = _demo_template(programme) if programme is not None else None
    state_dir = usable_state_dir(keep, "--keep") if keep else Path(tempfile.mkdtemp(prefix="cohortflow-demo-"))

    async def run(on_progress: Callable[[Progress], None] | None) -> DemoReport | BlockDemoReport:
        from cohortflow.demo.block_cycle import run_block_cycle
        from cohortflow.demo.cycle import run_cycle
        from cohortflow.demo.session import demo_session

        async with (
            time_skipping_stack(settings, state_dir) as stack,
            demo_session(stack, state_dir / "uploads", settings) as session,
        ):
            if template is not None:
                return await run_block_cycle(session, template, seed=seed, on_progress=on_progress)
            return await run_cycle(
                session, candidates=candidates, selected=selected, seed=seed, on_progress=on_progress
            )

    try:
        if as_json:
            report = asyncio.run(run(None))
        else:
            with Live(console=console, refresh_per_second=4, transient=True) as live:

                def show(progress: Progress) -> None:
                    live.update(f"open: [cyan]{', '.join(progress.open) or '-'}[/]")

                report = asyncio.run(run(show))
    except FeedRefused as exc:
        console.print(f"[red]{escape(said(str(exc)))}[/]")
        raise typer.Exit(1) from None
    finally:
        if keep is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False))
    else:
        from cohortflow.demo.block_cycle import BlockDemoReport

        _print_block_report(report) if isinstance(report, BlockDemoReport) else _print_report(report)
    if not report.chain_verified:
        raise typer.Exit(1)


def _demo_template(path: Path) -> ProgrammeTemplate:
    """The block template ``demo --programme`` runs; a seven-phase or invalid file ends the command."""
    import yaml

    from cohortflow.domain.programme import ProgrammeInvalid
    from cohortflow.domain.template import is_block_template, parse_template

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not is_block_template(data):
        console.print(f"[red]{path} is a seven-phase template; `cohortflow demo` without --programme runs that form[/]")
        raise typer.Exit(2)
    try:
        return parse_template(data)
    except ProgrammeInvalid as exc:
        console.print(f"[red]{path} is not a valid template:[/]\n" + "\n".join(f"- {p}" for p in exc.problems))
        raise typer.Exit(2) from None


def _print_block_report(report: BlockDemoReport) -> None:
    c = report.counters
    console.print(f"[bold]Cohort {report.cohort_id}[/] — programme {report.programme_id} v{report.programme_version}")
    console.print(
        f"{report.blocks} blocks; {c.candidates} enrolled, {c.selected} selected, {c.completed} completed, "
        f"{c.credit_hours:g} credit hours awarded"
    )
    verdict = "[green]verified[/]" if report.chain_verified else "[red]BROKEN[/]"
    console.print(f"events in this cohort: {report.events:,}; chain {verdict}")
    console.print(f"head digest: position {report.head_position}, sha256 {report.head_digest}")
    console.print(f"wall time: {report.wall_seconds:.1f} s")


SHORT_STEP_NAMES = {
    "nominated": "nominated",
    "met_online_requirement": "online ok",
    "selected": "selected",
    "attended_field_study": "attended",
    "completed": "completed",
}


def _print_report(r: DemoReport) -> None:
    from rich.table import Table

    s = r.summary
    console.print(f"[bold]Cohort {r.cohort_id}[/] — programme {s.programme_id} v{s.programme_version}")
    funnel = Table(title="Funnel by phase")
    funnel.add_column("step")
    funnel.add_column("people", justify="right")
    for step, count in s.funnel.items():
        funnel.add_row(step.replace("_", " "), f"{count:,}")
    funnel.add_row("withdrawn", f"{s.withdrawn:,}")
    console.print(funnel)
    per = Table(title="Funnel by prefecture (市州)")
    per.add_column("code")
    per.add_column("prefecture")
    steps = list(s.funnel)
    for step in steps:
        per.add_column(SHORT_STEP_NAMES.get(step, step), justify="right")
    for p in s.prefectures:
        per.add_row(p.code, p.name, *(f"{p.counts[step]:,}" for step in steps))
    console.print(per)
    credits = Table(title="Credit hours awarded (学时)")
    credits.add_column("level")
    credits.add_column("hours", justify="right")
    for level, hours in s.credit_hours_by_level.items():
        credits.add_row(level, f"{hours:,.1f}")
    credits.add_row("[bold]total[/]", f"[bold]{s.credit_hours:,.1f}[/] in {s.credit_entries:,} entries")
    console.print(credits)
    verdict = "[green]verified[/]" if r.chain_verified else "[red]BROKEN[/]"
    console.print(f"events in this cohort: {r.events:,}; whole history: {r.verified_events:,} events, chain {verdict}")
    console.print(f"head digest: position {r.head_position}, sha256 {r.head_digest}")
    console.print(f"selection input digest: {s.selection_digest}")
    outbox = ", ".join(f"{count:,} {status.replace('_', ' ')}" for status, count in r.reminders.items())
    hint = "" if r.dispatched else " (with COHORTFLOW_SMTP_HOST or COHORTFLOW_WEBHOOK_URL set, the demo sends them)"
    console.print(f"reminder messages: {outbox or 'none'}{hint}")
    console.print(f"wall time: {r.wall_seconds:.1f} s")


@app.command()
def up(
    state_dir: Annotated[Path | None, typer.Option(help="Where PostgreSQL and Temporal keep data")] = None,
) -> None:
    """Start PostgreSQL, Temporal (with its web UI), migrations, the worker and the API. Ctrl-C stops all.

    With an SMTP host or a webhook URL configured, the reminder dispatcher runs too."""
    import asyncio

    from cohortflow.cli.serve import reminder_channels, serve
    from cohortflow.logs import configure_logging
    from cohortflow.reminders.dispatcher import configuration_problem
    from cohortflow.runtime.leftovers import Port, StartRefused
    from cohortflow.runtime.stack import local_stack
    from cohortflow.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    problem = configuration_problem(settings)
    if problem is not None:
        console.print(f"[red]{said(problem)}[/]")
        raise typer.Exit(2)
    try:
        with local_stack(
            settings,
            usable_state_dir(state_dir or settings.state_dir, "--state-dir or COHORTFLOW_STATE_DIR"),
            temporal_port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            also_needs=[Port(settings.api_host, settings.api_port, "COHORTFLOW_API_PORT")],
        ) as stack:
            console.print(f"PostgreSQL: {stack.database_url}")
            console.print(f"Temporal:   {stack.temporal_address}  web UI: {stack.temporal_ui or '(external)'}")
            console.print(f"Console:    http://{settings.api_host}:{settings.api_port}/console")
            console.print(f"API:        http://{settings.api_host}:{settings.api_port}/docs")
            console.print(f"Reminders:  {reminder_channels(settings)}")
            asyncio.run(serve(settings, stack.database_url, stack.temporal_address))
    except StartRefused as refused:
        Console(stderr=True).print(f"[red]{escape(said(str(refused)))}[/]", highlight=False, soft_wrap=True)  # one line
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while starting; what had started has been stopped
        pass
    console.print("stopped")


@app.command()
def worker() -> None:
    """Run the worker against DATABASE_URL and TEMPORAL_ADDRESS."""
    import asyncio

    from cohortflow import worker as worker_module
    from cohortflow.logs import configure_logging
    from cohortflow.observability.tracing import configured_provider
    from cohortflow.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if settings.database_url is None or settings.temporal_address is None:
        console.print("[red]set DATABASE_URL and TEMPORAL_ADDRESS (or use `cohortflow up`)[/]")
        raise typer.Exit(2)
    asyncio.run(
        worker_module.main(
            settings.database_url,
            settings.temporal_address,
            settings.temporal_namespace,
            settings.task_queue,
            settings.uploads,
            settings.temporal_metrics_address,
            configured_provider(settings),
        )
    )


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API against DATABASE_URL."""
    import uvicorn

    from cohortflow.api.app import create_app
    from cohortflow.logs import configure_logging
    from cohortflow.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    # log_config=None: uvicorn's lines go through the logging configured above (JSON when chosen), not its own.
    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port, log_config=None)


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (or the embedded store); other store commands only check."""
    from cohortflow.cli.store import database
    from cohortflow.store.migrate import head_revision, upgrade

    with database("unchecked") as url:
        upgrade(url)
    console.print(f"migrations applied: the store is at revision {head_revision()}")


@app.command("rebuild-read-models")
def rebuild_read_models() -> None:
    """Drop the read models and project them again from the first event (the API does not need to stop)."""
    from rich.progress import Progress

    from cohortflow.cli.store import run_on_store
    from cohortflow.readmodels.projector import Projector

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("projecting", total=None)

        async def rebuild(store: EventStore) -> int:
            head = (await store.head()).position
            progress.update(task, total=head)
            projector = Projector(store, on_batch=lambda _, position: progress.update(task, completed=position))
            return await projector.rebuild()

        count = run_on_store(rebuild)
    console.print(f"read models rebuilt from {count:,} events")


if __name__ == "__main__":  # `python -m cohortflow.cli.main`: the console script's app, on this checkout
    app()
