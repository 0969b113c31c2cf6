"""Command lines against the real CLI: each must name a `cohortflow` command and give it options it takes.

The command tree is Typer's own, as its click layer sees it; each line is parsed as
the command would parse it (without running it), so an unknown command or option, a
missing required option or a bad option value is found as the CLI would refuse it.
"""

from __future__ import annotations

import typer.main

# Typer (pinned in pyproject.toml) ships its own copy of click and exposes no public name for its
# command, context and usage-error types; these are the ones its commands are and its parser raises.
from typer._click.core import Command, Context
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from cohortflow.cli.main import app
from tests.deploy.deployment_files import CommandLine

CLI = typer.main.get_command(app)


def _problem(argv: tuple[str, ...]) -> str | None:
    if not argv or argv[0] != "cohortflow":
        return f"runs {argv[0] if argv else 'nothing'!r}, not the cohortflow command"
    command: Command = CLI
    path, rest = ["cohortflow"], list(argv[1:])
    while isinstance(command, TyperGroup):
        name = " ".join(path)
        if not rest or rest[0].startswith("-"):
            return f"`{name}` needs one of its commands: {', '.join(command.list_commands(Context(command)))}"
        sub = command.get_command(Context(command), rest[0])
        if sub is None:
            return f"`{name}` has no command {rest[0]!r}"
        command, path = sub, [*path, rest.pop(0)]
    try:
        command.make_context(" ".join(path), rest)
    except ClickException as refused:
        return f"`{' '.join(path)}`: {refused.format_message()}"
    return None


def command_problems(commands: list[CommandLine]) -> list[str]:
    """One line per command the CLI would refuse, naming the file, where in it, and the reason."""
    problems = []
    for line in commands:
        problem = _problem(line.argv)
        if problem is not None:
            problems.append(f"{line.file}: {line.where}: {' '.join(line.argv)}: {problem}")
    return problems
