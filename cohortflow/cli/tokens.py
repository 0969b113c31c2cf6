"""`cohortflow token ...`: issue, revoke and list the bearer tokens of the API."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cohortflow.access.roles import ROLES
from cohortflow.cli.display import print_table, when
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import _
from cohortflow.cli.store import run_on_store

if TYPE_CHECKING:
    from cohortflow.access.tokens import IssuedToken, TokenInfo
    from cohortflow.store.eventstore import EventStore

app = sub_app("token")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")
# The unit a token or a console account is bound to, as its role needs (``access.tokens.checked_holder``).
Prefecture = Annotated[str | None, typer.Option(help="Six-digit prefecture code (coordinators only)")]
County = Annotated[str | None, typer.Option(help="Six-digit county code (schools and district reviewers only)")]
School = Annotated[str | None, typer.Option(help="The school's name, as the registry writes it (schools only)")]


def _operator() -> str:
    return "cli:" + getpass.getuser()


def _run(work: Callable[[EventStore], Awaitable[T]]) -> T:
    from cohortflow.access.tokens import TokenRefused

    return run_on_store(work, (TokenRefused,), max_size=1)


@app.command()
def issue(
    name: Annotated[str, typer.Option(help="Who or what holds the token, e.g. a person or a service")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    prefecture: Prefecture = None,
    county: County = None,
    school: School = None,
) -> None:
    """Issue a token and print its secret, once: only a hash of it is kept."""

    async def work(store: EventStore) -> IssuedToken:
        from cohortflow.access.tokens import issue_token

        return await issue_token(
            store.pool,
            name=name,
            role=role,
            prefecture=prefecture,
            county=county,
            school=school,
            issued_by=_operator(),
        )

    token = _run(work)
    if token.county:
        scope = _(" of county {code}").format(code=token.county) + (f" {token.school}" if token.school else "")
    else:
        scope = _(" of prefecture {code}").format(code=token.prefecture) if token.prefecture else ""
    issued = _("issued token {token} to {role} {name}").format(
        token=token.token_id, role=token.role, name=repr(token.name)
    )
    err.print(escape(issued + scope), highlight=False)
    store_it = _("Store the secret now: it cannot be shown again.")
    err.print(f"[yellow]{store_it}[/]")
    # The secret alone on stdout, unwrapped, so that it can be captured by a script.
    typer.echo(token.secret)


@app.command()
def revoke(token_id: str) -> None:
    """Revoke a token; requests bearing it are refused from then on."""

    async def work(store: EventStore) -> TokenInfo:
        from cohortflow.access.tokens import revoke_token

        return await revoke_token(store.pool, token_id, revoked_by=_operator())

    revoked = _run(work)
    done = _("revoked token {token} ({role} {name})").format(
        token=revoked.token_id, role=revoked.role, name=repr(revoked.name)
    )
    console.print(escape(done), highlight=False)


@app.command("list")
def list_() -> None:
    """Every token issued, revoked ones included (never their secrets)."""

    async def work(store: EventStore) -> list[TokenInfo]:
        from cohortflow.access.tokens import list_tokens

        return await list_tokens(store.pool)

    tokens = _run(work)
    if not tokens:
        console.print(_("no tokens issued yet"))
        return
    title = _("{count} token(s), {active} active").format(count=len(tokens), active=sum(t.active for t in tokens))
    table = Table(title=title)
    for column in ("token", "name", "role", "prefecture", "county", "school", "issued", "by", "revoked", "by"):
        table.add_column(_(column))
    for t in tokens:
        table.add_row(
            t.token_id,
            escape(t.name),  # names are free text, not rich markup
            t.role,
            t.prefecture or "",
            t.county or "",
            escape(t.school or ""),
            when(t.issued_at),
            escape(t.issued_by),
            when(t.revoked_at),
            escape(t.revoked_by or ""),
            style=None if t.active else "dim",
        )
    print_table(console, table)
