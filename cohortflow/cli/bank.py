"""`cohortflow bank ...`: the credit bank through the API (``/api/v1/people``, ``/credit-bank``, ``/reports``).

People files and credits files are applied whole or not at all: a refused file
prints every row's problem and exits 2, as a cohort's ``import`` does. A
coordinator's token limits every command to their prefecture's people. Exit
codes as the other API commands: 0 done, 2 refused, 1 the API failed or could
not be reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.cli.admin import (
    API,
    ApiUrl,
    AsJson,
    Reason,
    SheetFile,
    Token,
    _api,
    _outcome,
    _refused_file,
    _segment,
    _sheet_type,
    _show,
    report,
)
from cohortflow.cli.client import DEFAULT_URL, Refused
from cohortflow.cli.display import print_table, rows_table
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import _
from cohortflow.domain.credit_bank.credits import BankSource
from cohortflow.domain.credit_bank.people import PersonField

bank_app = sub_app("bank")
ReportFormat = Literal["csv", "xlsx"]
AsOf = Annotated[str | None, typer.Option("--as-of", help="The day judged, YYYY-MM-DD (today in China if not given)")]
console = Console()


def _send_file(path: str, file: Path, params: dict[str, str], api_url: str, token: str | None) -> dict[str, Any]:
    """The outcome of a bank file the API applied; a refused file's problems are printed and the command exits 2."""
    media = _sheet_type(file, "a credit bank file")
    with _api(api_url, token) as api:
        try:
            outcome: dict[str, Any] = api.upload(path, file, media, params=params)
        except Refused as exc:
            _refused_file(exc)
            exc.detail = _("nothing was applied from {file}; every problem:").format(file=file.name)
            report(exc, token)
            raise typer.Exit(2) from None
    return outcome


@bank_app.command("import-people")
def import_people(
    file: SheetFile,
    reason: Annotated[
        str, typer.Option("--reason", help="Why registered people's facts change (needed if the file changes any)")
    ] = "",
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Register a people file's new people and correct the registered ones it changes; one bad row refuses it."""
    outcome = _send_file(f"{API}/people/imports", file, {"reason": reason} if reason else {}, api_url, token)
    applied = _("applied: {rows} rows, {registered} registered, {corrected} corrected, {unchanged} unchanged")
    counts = {k: f"{outcome.get(k, 0):,}" for k in ("rows", "registered", "corrected", "unchanged")}
    console.print(f"[green]{escape(applied.format(**counts))}[/]", highlight=False)


@bank_app.command("import-credits")
def import_credits(
    file: SheetFile,
    recorded_by: Annotated[
        str, typer.Option("--recorded-by", help="The unit recording the credits: a school's name or a county's code")
    ],
    source: Annotated[BankSource, typer.Option("--source", help="Who recorded the hours")] = "school",
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Record a credits file's hours for registered people; one bad row refuses the whole file."""
    params = {"source": source, "recorded_by": recorded_by}
    outcome = _send_file(f"{API}/credit-bank/imports", file, params, api_url, token)
    applied = _("applied: {recorded} credits recorded from {rows} rows")
    counts = {k: f"{outcome.get(k, 0):,}" for k in ("recorded", "rows")}
    console.print(f"[green]{escape(applied.format(**counts))}[/]", highlight=False)


@bank_app.command("import-reversals")
def import_reversals(file: SheetFile, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Reverse the entries a file names, each with its row's reason; one bad row refuses the whole file."""
    outcome = _send_file(f"{API}/credit-bank/reversals/imports", file, {}, api_url, token)
    applied = _("applied: {reversed} entries reversed from {rows} rows")
    counts = {k: f"{outcome.get(k, 0):,}" for k in ("reversed", "rows")}
    console.print(f"[green]{escape(applied.format(**counts))}[/]", highlight=False)


@bank_app.command()
def correct(
    person_key: Annotated[str, typer.Argument(help="The person's key", show_default=False)],
    field: Annotated[PersonField, typer.Argument(show_default=False)],
    value: str,
    reason: Reason,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Correct one fact of a registered person; the original stays in the history beside the correction."""
    body = {"field": field, "value": value, "reason": reason}
    with _api(api_url, token) as api:
        facts = api.post(f"{API}/people/{_segment(person_key)}/corrections", body)
    _outcome({"outcome": _("corrected"), **facts})


@bank_app.command()
def reverse(
    person_key: Annotated[str, typer.Argument(help="The person's key", show_default=False)],
    entry: Annotated[str, typer.Argument(help="The credit entry's id", show_default=False)],
    reason: Reason,
    cohort: Annotated[
        str | None, typer.Option("--cohort", help="The cohort that awarded the entry (omit for a bank entry)")
    ] = None,
    approver: Annotated[
        str | None, typer.Option("--approver", help="The approver of the locked year the entry is in, if it is")
    ] = None,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Cancel one of a person's credit entries with a reversing entry; an entry is reversed once."""
    body = {"entry_id": entry, "cohort_id": cohort, "reason": reason, "approver": approver}
    with _api(api_url, token) as api:
        done = api.post(f"{API}/people/{_segment(person_key)}/reversals", body)
    _outcome({"outcome": _("reversed"), **done})


@bank_app.command("people")
def list_people(
    county: Annotated[str | None, typer.Option("--county", help="A county's division code")] = None,
    school: Annotated[str | None, typer.Option("--school", help="A school's name, whole")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Part of the name")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Registered people (a coordinator's own prefecture's), with the key each command takes."""
    with _api(api_url, token) as api:
        rows = api.get_all(f"{API}/people", county_code=county, school=school, name=name)
    columns = ["person_key", "name", "national_id", "post", "school", "county_code", "took_post_on"]
    _show(rows, as_json, lambda r: print_table(console, rows_table(r, _("registered people"), columns)))


@bank_app.command("standing")
def standing(
    person_key: Annotated[str, typer.Argument(help="The person's key", show_default=False)],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day judged, YYYY-MM-DD (today if not given)")
    ] = None,
    recorded_then: Annotated[
        bool, typer.Option("--recorded-then", help="Only what had been recorded by that day")
    ] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """A person's standing against every rule that applies to them, and why."""
    view = "recorded_then" if recorded_then else "known_now"
    with _api(api_url, token) as api:
        body = api.get(f"{API}/people/{_segment(person_key)}/standing", view=view, as_of=as_of)

    def render(b: dict[str, Any]) -> None:
        title = _("{name} on {day}").format(name=b["person"]["name"], day=b["as_of"])
        print_table(console, rows_table(b["rules"], title, ["title", "required", "achieved", "missing", "met"]))
        for rule in b["rules"]:
            colour = "green" if rule["met"] else "yellow"
            console.print(f"[{colour}]{escape(rule['why'])}[/]", highlight=False, soft_wrap=True)
        columns = ["earned_on", "source", "title", "hours", "level", "reverses"]
        print_table(console, rows_table(b["entries"], _("entries"), columns))

    _show(body, as_json, render)


@bank_app.command("report")
def standing_report(
    county: Annotated[str | None, typer.Option("--county", help="A county's division code")] = None,
    school: Annotated[str | None, typer.Option("--school", help="A school's name, whole")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day judged, YYYY-MM-DD (today if not given)")
    ] = None,
    behind_only: Annotated[bool, typer.Option("--behind-only", help="Only the rules each person misses")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="csv or xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="Where to write")] = None,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Who meets or misses which rule, per person, under Chinese headers (for appraisal)."""
    target = output or Path(f"standing-{as_of or 'today'}.{fmt}")
    params = {"county_code": county, "school": school, "as_of": as_of, "behind_only": str(behind_only).lower()}
    with _api(api_url, token) as api:
        written = api.download(
            f"{API}/reports/standing", target, params={"format": fmt, **{k: v for k, v in params.items() if v}}
        )
    console.print(_("wrote the standing report to {path} ({size} bytes)").format(path=target, size=f"{written:,}"))
