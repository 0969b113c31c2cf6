"""The CLI's sub-command groups, imported only when one of them is run.

`cohortflow --help` lists them from this table alone, so it loads none of the
modules behind them (the HTTP client, the store, their rendering); running
`cohortflow cohort ...` imports `cohortflow.cli.admin` and builds that group only.
Typer builds every registered group eagerly, hence this small subclass of its
group (Click's documented "lazy loading of subcommands" pattern).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

import typer
from typer import _click as click
from typer.core import TyperGroup


@dataclass(frozen=True)
class Group:
    module: str
    attribute: str
    help: str


GROUPS = {
    "audit": Group(
        "cohortflow.cli.audit", "app", "Verify, replay and export the history (read-only; queries are recorded)."
    ),
    "token": Group("cohortflow.cli.tokens", "app", "Issue, revoke and list the API's bearer tokens."),
    "account": Group("cohortflow.cli.accounts", "app", "Create the web console's accounts."),
    "programme": Group(
        "cohortflow.cli.admin", "programme_app", "Programme templates: validate, submit, list and compare."
    ),
    "cohort": Group("cohortflow.cli.admin", "cohort_app", "Start cohorts, see where they stand and steer them."),
    "plan": Group(
        "cohortflow.cli.admin", "plan_app", "Rotation plans: one cohort of a programme a year, nobody twice."
    ),
    "import": Group(
        "cohortflow.cli.admin",
        "import_app",
        "Upload a CSV or XLSX file into a cohort: `import KIND COHORT_ID FILE`.",
    ),
    "export": Group(
        "cohortflow.cli.admin",
        "export_app",
        "Download a cohort's list as CSV or XLSX: `export KIND COHORT_ID`.",
    ),
    "bank": Group(
        "cohortflow.cli.bank",
        "bank_app",
        "The credit bank: people and credits files, corrections, reversals, a person's standing, reports.",
    ),
    "review": Group(
        "cohortflow.cli.reviews", "review_app", "A district's annual review of its schools' credits: open, steer, read."
    ),
    "reminder": Group("cohortflow.cli.reminders", "app", "Deliver queued reminders; list the ones given up."),
}


PLAIN_HELP = None
"""Typer's ``rich_markup_mode`` for every group: help and usage errors as Click prints them. Typer's rich renderer
imports rich's Markdown (markdown-it) and tracebacks, which doubled the time `cohortflow --help` takes."""


def sub_app(name: str) -> typer.Typer:
    """The Typer app of ``GROUPS[name]``, with its help from the table."""
    return typer.Typer(no_args_is_help=True, help=GROUPS[name].help, rich_markup_mode=PLAIN_HELP)


class LazyGroups(TyperGroup):
    """The root group: the commands registered on it, then the groups of ``GROUPS``, loaded on use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*GROUPS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        group = GROUPS.get(cmd_name)
        if group is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # the root's help needs a name and a line of help, not the group's commands
            return TyperGroup(name=cmd_name, help=group.help)
        loaded = typer.main.get_group(getattr(import_module(group.module), group.attribute))
        loaded.name = cmd_name
        return loaded

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
