"""`cohortflow account create`: the web console's accounts, each with a role and a unit as a token has.

The password is read from a prompt (twice, not echoed) or, for scripts, from standard input with
``--password-stdin``; it never appears on the command line, where other users of the machine could read it.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.access.roles import ROLES
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import _
from cohortflow.cli.store import run_on_store
from cohortflow.cli.tokens import County, Prefecture, School

if TYPE_CHECKING:
    from cohortflow.access.roles import Principal
    from cohortflow.store.eventstore import EventStore

app = sub_app("account")
err = Console(stderr=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(_("Password: "))
    if getpass.getpass(_("The same password again: ")) != first:
        err.print(f"[red]{escape(_('the two passwords differ; nothing was created'))}[/]")
        raise typer.Exit(2)
    return first


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The account's name, used to sign in", show_default=False)],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    prefecture: Prefecture = None,
    county: County = None,
    school: School = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
    ] = False,
) -> None:
    """Create a console account that signs in with a password (kept only as an Argon2id hash)."""
    password = _password(password_stdin)

    async def work(store: EventStore) -> Principal:
        from cohortflow.access.accounts import create_account

        return await create_account(
            store.pool,
            name=name,
            password=password,
            role=role,
            prefecture=prefecture,
            county=county,
            school=school,
            created_by="cli:" + getpass.getuser(),
        )

    from cohortflow.access.tokens import TokenRefused

    created = run_on_store(work, (TokenRefused,), max_size=1)
    err.print(escape(_("created account {name} ({role})").format(name=repr(created.name), role=created.role)))
