"""`cohortflow programme|cohort|import|export ...`: the administrators' commands, as a client of the API.

Each command is one or two requests to ``/api/v1`` with the bearer token of
``--token`` (or ``COHORTFLOW_TOKEN``), so it is allowed, refused and recorded
exactly as the same request from any other client. Exit codes: 0 done, 2 refused
(by the API with a 4xx, or before sending anything), 1 the API failed (5xx) or
could not be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, get_args
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cohortflow.cli.client import DEFAULT_URL, TOKEN_ENV, URL_ENV, ApiClient, ClientError, Refused
from cohortflow.cli.display import cell, fields, label, print_table, rows_table, when
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import _
from cohortflow.domain.phases import PhaseKind
from cohortflow.domain.programme import ProgrammeKind
from cohortflow.domain.vocabulary import CorrectableField, ImportKind

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

programme_app = sub_app("programme")
cohort_app = sub_app("cohort")
import_app = sub_app("import")
plan_app = sub_app("plan")
export_app = sub_app("export")
console = Console()
err = Console(stderr=True)

API = "/api/v1"
TEMPLATE_TYPES = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TYPES = {".csv": "text/csv", ".txt": "text/csv", ".xlsx": XLSX}
EXPORT_KINDS = ("nominees", "selected", "completed", "credits")
ExportFormat = Literal["csv", "xlsx"]
IMPORT_KINDS: tuple[str, ...] = get_args(ImportKind)

ApiUrl = Annotated[
    str, typer.Option("--api-url", envvar=URL_ENV, help="Base URL of the cohortflow API", show_envvar=True)
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        help="Bearer token (`cohortflow token issue`)",
        show_default=False,
        show_envvar=True,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables")]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded with the event")]
Phase = Annotated[PhaseKind, typer.Argument(help="The phase", show_default=False)]
ProgrammeOption = Annotated[str | None, typer.Option("--programme", help="Only cohorts of this programme (its id)")]
PhaseOption = Annotated[str | None, typer.Option("--phase", help="Only cohorts at this phase or block, open or closed")]


# ------------------------------------------------------------------ plumbing
def _segment(value: str) -> str:
    """``value`` as one path segment of a URL."""
    return quote(value, safe="")


def _refuse(message: str) -> NoReturn:
    """Refuse before sending anything: red on stderr, exit 2."""
    err.print(f"[red]{escape(message)}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def report(exc: Refused, token: str | None = None) -> None:
    """The API's refusal on stderr in red: its detail, every problem listed and how many more there are."""
    refused = _("refused ({status}): {detail}").format(status=exc.status, detail=exc.detail)
    err.print(f"[red]{escape(refused)}[/]", highlight=False, soft_wrap=True)
    for problem in exc.problems:
        err.print(f"[red]  {escape(problem)}[/]", highlight=False, soft_wrap=True)
    more = exc.problem_count - len(exc.problems)
    if more > 0:
        more_text = _("… and {count} more").format(count=f"{more:,}")
        err.print(f"[red]  {escape(more_text)}[/]", highlight=False, soft_wrap=True)
    if exc.status == 401 and not token:
        hint = _("set {env} or pass --token (issue one with `cohortflow token issue`)").format(env=TOKEN_ENV)
        err.print(f"[yellow]{escape(hint)}[/]", highlight=False)


def _exit_for(exc: Refused) -> typer.Exit:
    return typer.Exit(1 if exc.server_error else 2)


def _retrying(what: str) -> None:
    err.print(f"[yellow]{escape(what)}[/]", highlight=False, soft_wrap=True)


@contextmanager
def _api(url: str, token: str | None) -> Iterator[ApiClient]:
    """A session with the API; a refusal or an unreachable API ends the command with its exit code."""
    try:
        with ApiClient(url, token, on_retry=_retrying) as api:
            yield api
    except Refused as exc:
        report(exc, token)
        raise _exit_for(exc) from None
    except ClientError as exc:  # unreachable, or a command accepted and not applied while the CLI waited
        err.print(f"[red]{escape(str(exc))}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _json(body: Any) -> None:
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))


def _narrowed(*options: object) -> bool:
    """Whether any of a list's filter options was given: an empty answer then says nothing matched them."""
    return any(option is not None for option in options)


def _show(body: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        _json(body)
    else:
        render(body)


def _outcome(body: Mapping[str, Any]) -> None:
    """An admin action's outcome: what happened, then whatever else the API said about it."""
    rest = {k: v for k, v in body.items() if k != "outcome" and v is not None}
    console.print(f"[green]{escape(str(body.get('outcome', 'done')))}[/]", highlight=False)
    if rest:
        print_table(console, fields(rest))


@contextmanager
def _transfer(description: str, total: int | None) -> Iterator[tuple[Progress, TaskID]]:
    """A progress bar over bytes, on stderr (stdout stays for the command's answer), at a terminal only."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        yield progress, progress.add_task(description, total=total)


# ---------------------------------------------------------------- programmes
def _template(file: Path) -> tuple[bytes, str]:
    media = TEMPLATE_TYPES.get(file.suffix.lower())
    if media is None:
        _refuse(f"{file.name}: a programme template is a .json, .yaml or .yml file")
    return file.read_bytes(), media


ExistingFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, resolve_path=True, show_default=False)
]


@programme_app.command()
def validate(file: ExistingFile, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Check a template (JSON or YAML) without recording it; every problem is listed."""
    body, media = _template(file)
    with _api(api_url, token) as api:
        answer = api.post_bytes(f"{API}/programmes/validate", body, media)
    console.print(
        f"[green]valid[/]: programme {escape(answer['programme_id'])} version {answer['version']}, "
        f"digest {answer['digest'][:12]}",
        highlight=False,
    )


@programme_app.command()
def schema(api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Print the JSON Schema of a block template (stages of typed blocks, tracks, years)."""
    with _api(api_url, token) as api:
        _json(api.get(f"{API}/programmes/schema"))


@programme_app.command()
def submit(file: ExistingFile, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Record a template as the next version of its programme (its `version` must be that next number)."""
    body, media = _template(file)
    with _api(api_url, token) as api:
        answer = api.post_bytes(f"{API}/programmes", body, media)
    what = f"programme {escape(answer['programme_id'])} version {answer['version']}"
    if answer.get("duplicate"):
        console.print(f"{what} is already recorded with this content; nothing changed", highlight=False)
    else:
        console.print(f"[green]recorded[/] {what}, digest {answer['digest'][:12]}", highlight=False)


def _versions_table(rows: list[dict[str, Any]], title: str, *, filtered: bool = False) -> None:
    if not rows:
        console.print(
            _("no programme version matches these options") if filtered else _("no programme versions recorded yet")
        )
        return
    table = Table(title=title)
    for column in ("id", "version", "name", "digest", "submitted at", "submitted by"):
        table.add_column(_(column), justify="right" if column == "version" else "left")
    for r in rows:
        table.add_row(
            escape(r["programme_id"]),
            str(r["version"]),
            escape(r["name"]),
            r["digest"][:12],
            when(r["submitted_at"]),
            escape(r["submitted_by"]),
        )
    print_table(console, table)


@programme_app.command("list")
def list_programmes(
    kind: Annotated[ProgrammeKind | None, typer.Option("--kind", help="Only programmes of this kind")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only programmes whose name holds these words")] = None,
    prefecture: Annotated[
        str | None, typer.Option("--prefecture", help="Only programmes this prefecture (a division code) takes part in")
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Every recorded version of every programme (or of those the options name)."""
    with _api(api_url, token) as api:
        rows = api.get_all(f"{API}/programmes", kind=kind, name=name, prefecture=prefecture)
    filtered = _narrowed(kind, name, prefecture)
    title = _("{count} programme version(s)").format(count=len(rows))
    _show(rows, as_json, lambda r: _versions_table(r, title, filtered=filtered))


@programme_app.command()
def versions(programme_id: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """The recorded versions of one programme."""
    with _api(api_url, token) as api:
        rows = api.get_all(f"{API}/programmes/{_segment(programme_id)}/versions")
    _show(rows, as_json, lambda r: _versions_table(r, _("versions of {programme}").format(programme=programme_id)))


@programme_app.command()
def show(programme_id: str, version: int, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """One recorded version, as JSON."""
    with _api(api_url, token) as api:
        _json(api.get(f"{API}/programmes/{_segment(programme_id)}/versions/{version}"))


@programme_app.command()
def diff(
    programme_id: str,
    old: int,
    new: int,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """What changed from version OLD to NEW, as JSON Patch operations."""
    with _api(api_url, token) as api:
        ops = api.get(f"{API}/programmes/{_segment(programme_id)}/diff", old=old, new=new)

    def render(ops: list[dict[str, Any]]) -> None:
        if not ops:
            console.print(f"versions {old} and {new} of {escape(programme_id)} are the same", highlight=False)
            return
        columns = ["op", "path", *(["from"] if any("from" in op for op in ops) else []), "value"]
        print_table(console, rows_table(ops, f"{programme_id}: version {old} → {new}", columns))

    _show(ops, as_json, render)


def _print_message(message: dict[str, str]) -> None:
    console.print(f"[bold]{escape(message['subject'])}[/]  [dim]({message['locale']})[/]", highlight=False)
    console.print(escape(message["body"]), highlight=False, soft_wrap=True)


@programme_app.command("preview-reminder")
def preview_reminder(
    programme_id: str,
    version: int,
    rule: str,
    locale: Annotated[Literal["zh", "en"], typer.Option(help="The message's language")] = "zh",
    value: Annotated[
        list[str] | None, typer.Option("--value", help="A placeholder's value, as name=value (repeatable)")
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """A reminder rule's message as it will read; placeholders not given show as <name>."""
    values = dict(v.split("=", 1) for v in value or () if "=" in v)
    if len(values) != len(value or ()):
        _refuse("--value takes name=value")
    path = f"{API}/programmes/{_segment(programme_id)}/versions/{version}/reminders/{_segment(rule)}/preview"
    with _api(api_url, token) as api:
        message = api.post(path, {"locale": locale, "values": values})
    _show(message, as_json, _print_message)


# ------------------------------------------------------------------- cohorts
def _cohort(cohort_id: str) -> str:
    return f"{API}/cohorts/{_segment(cohort_id)}"


def _plan(plan_id: str) -> str:
    return f"{API}/plans/{_segment(plan_id)}"


def _sheet_type(file: Path, what: str) -> str:
    """The media type of a spreadsheet file; anything else is refused before sending."""
    media = SHEET_TYPES.get(file.suffix.lower())
    if media is None:
        _refuse(f"{file.name}: {what} is a .csv, .txt or .xlsx file")
    return media


def _refused_file(exc: Refused) -> dict[str, Any]:
    """The body of a file the API checked and refused (422, outcome refused); any other refusal goes on up."""
    body = exc.body
    if exc.status != 422 or not isinstance(body, dict) or body.get("outcome") != "refused":
        raise exc
    return body


@cohort_app.command()
def start(
    cohort_id: str,
    programme: Annotated[str, typer.Option("--programme", help="Programme id")],
    version: Annotated[int, typer.Option("--version", min=1, help="Programme version, pinned for the cohort's life")],
    day_seconds: Annotated[
        float | None, typer.Option(help="Wall seconds per programme day (default: a real day)", show_default=False)
    ] = None,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Start a cohort under a recorded programme version."""
    body: dict[str, Any] = {"cohort_id": cohort_id, "programme_id": programme, "version": version}
    if day_seconds is not None:
        body["day_seconds"] = day_seconds
    with _api(api_url, token) as api:
        answer = api.post(f"{API}/cohorts", body)
    console.print(
        f"[green]started[/] cohort {escape(answer['cohort_id'])} (workflow {escape(answer['workflow_id'])}) "
        f"under programme {escape(answer['programme_id'])} version {answer['programme_version']}",
        highlight=False,
    )


@plan_app.command("start")
def start_plan(
    plan_id: str,
    programme: Annotated[str, typer.Option("--programme", help="Programme id")],
    version: Annotated[int, typer.Option("--version", min=1, help="Programme version every cohort runs")],
    first_year: Annotated[int, typer.Option("--first-year", help="Calendar year of the first cohort, started now")],
    years: Annotated[int, typer.Option("--years", min=1, help="One cohort a year for this many years")],
    name: Annotated[str, typer.Option("--name", help="The plan's name")],
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Start a rotation plan: cohorts PLAN-YEAR, the first now and then one a year."""
    body = {
        "plan_id": plan_id,
        "name": name,
        "programme_id": programme,
        "version": version,
        "first_year": first_year,
        "years": years,
    }
    with _api(api_url, token) as api:
        answer = api.post(f"{API}/plans", body)
    console.print(
        f"[green]started[/] rotation plan {escape(answer['plan_id'])}: cohorts {escape(', '.join(answer['planned']))}",
        highlight=False,
    )


@plan_app.command("roster")
def plan_roster(plan_id: str, file: ExistingFile, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Add the eligible people of a file (name, national_id, prefecture_code, school) to the plan's roster."""
    media = _sheet_type(file, "a roster")
    with _api(api_url, token) as api:
        try:
            outcome = api.upload(f"{_plan(plan_id)}/roster", file, media)
        except Refused as exc:
            body = _refused_file(exc)
            exc.detail = f"nobody was added to the roster ({body.get('rows', 0):,} rows)"
            report(exc, token)
            raise typer.Exit(2) from None
    if outcome["status"] == "duplicate":
        console.print("[yellow]duplicate[/]: this roster file was already added; nothing changed", highlight=False)
    else:
        console.print(f"[green]added[/] {outcome['applied']:,} people to the roster of plan {escape(plan_id)}")


@plan_app.command("status")
def plan_status(plan_id: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """The plan's cohorts (started so far, and planned) and how much of its roster they cover."""
    with _api(api_url, token) as api:
        answer = api.get(_plan(plan_id))
    if as_json:
        _json(answer)
        return
    started = set(answer["started"])
    for cohort in answer["planned"]:
        console.print(f"{escape(cohort)}  {'started' if cohort in started else 'planned'}", highlight=False)
    cover = answer["coverage"]
    console.print(
        f"roster {cover['roster']:,}; enrolled {cover['enrolled']:,}; not yet enrolled {cover['not_yet_enrolled']:,}",
        highlight=False,
    )


@cohort_app.command("list")
def list_cohorts(
    programme: ProgrammeOption = None,
    phase: PhaseOption = None,
    state: Annotated[
        Literal["running", "completed"] | None, typer.Option("--state", help="Only running or completed cohorts")
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Every cohort (or those the options name) and where it stands."""
    with _api(api_url, token) as api:
        rows = api.get_all(f"{API}/cohorts", programme_id=programme, phase=phase, state=state)
    filtered = _narrowed(programme, phase, state)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(_("no cohort matches these options") if filtered else _("no cohorts yet"))
        else:
            print_table(console, rows_table(rows, _("{count} cohort(s)").format(count=len(rows))))

    _show(rows, as_json, render)


@cohort_app.command()
def status(cohort_id: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """The open phase and its deadline (or a block template's open blocks) and the cohort's counters."""
    with _api(api_url, token) as api:
        body = api.get(f"{_cohort(cohort_id)}/status")

    def render(b: dict[str, Any]) -> None:
        blocks = b.get("open_blocks")
        if isinstance(blocks, list):
            title = escape(_("open blocks of cohort {cohort}").format(cohort=cohort_id))
            print_table(console, rows_table(blocks, title, ["code", "kind", "closes_at"]))
            b = {k: v for k, v in b.items() if k != "open_blocks"}
        print_table(console, fields(b, _("cohort {cohort}").format(cohort=cohort_id)))
        stall = (b.get("execution") or {}).get("stalled")
        if stall:
            err.print(f"[yellow]{escape(_stall_line(stall))}[/]", highlight=False, soft_wrap=True)

    _show(body, as_json, render)


def _stall_line(stall: Mapping[str, Any]) -> str:
    return (
        f"stalled since {when(stall['since'])}: {stall['step']} has failed {stall['attempt']} times; "
        f"last: {stall['reason']}"
    )


@cohort_app.command()
def stalled(
    step: Annotated[
        str | None,
        typer.Option("--step", help="Only cohorts stalled at this step (an activity, `workflow task`, a child's step)"),
    ] = None,
    min_minutes: Annotated[
        int | None, typer.Option("--min-minutes", min=0, help="Only cohorts stalled at least this many minutes")
    ] = None,
    programme: ProgrammeOption = None,
    phase: PhaseOption = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Every running cohort that cannot make progress (or those the options name): the failing step, why, and since
    when. Without --programme and --phase it asks Temporal alone, so it answers while the database is out."""
    with _api(api_url, token) as api:
        rows = api.get_all(
            f"{API}/cohorts/stalled", step=step, min_minutes=min_minutes, programme_id=programme, phase=phase
        )

    filtered = _narrowed(step, min_minutes, programme, phase)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(_("no stalled cohort matches these options") if filtered else _("no cohort is stalled"))
        for row in rows:
            console.print(f"{escape(row['cohort_id'])}  {escape(_stall_line(row['stall']))}", highlight=False)

    _show(rows, as_json, render)


@cohort_app.command("close-block")
def close_block(cohort_id: str, block: str, reason: Reason, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Close an open block of a block template's cohort before its day; its credits are decided then."""
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/close-block", {"block": block, "reason": reason}))


@cohort_app.command()
def funnel(cohort_id: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """How many people reached each step, in all and by prefecture."""
    with _api(api_url, token) as api:
        body = api.get(f"{_cohort(cohort_id)}/funnel")

    def render(body: dict[str, Any]) -> None:
        totals: dict[str, Any] = body.get("totals") or {}
        steps = list(totals)
        for row in body.get("prefectures") or []:
            steps.extend(step for step in row.get("counts", {}) if step not in steps)
        about = [f"{escape(label(k))} {cell(v, k)}" for k, v in body.items() if k not in ("totals", "prefectures")]
        title = escape(_("Funnel of cohort {cohort}").format(cohort=cohort_id))
        table = Table(title=title, caption=" · ".join(about) or None)
        table.add_column(_("code"))
        table.add_column(_("prefecture"))
        for step in steps:
            table.add_column(escape(label(step)), justify="right")
        for row in body.get("prefectures") or []:
            counts = row.get("counts", {})
            table.add_row(cell(row.get("code")), cell(row.get("name")), *(cell(counts.get(s, 0)) for s in steps))
        total = _("total")
        table.add_row("", f"[bold]{total}[/]", *(f"[bold]{cell(totals.get(s, 0))}[/]" for s in steps))
        print_table(console, table)

    _show(body, as_json, render)


@cohort_app.command("close-phase")
def close_phase(
    cohort_id: str, phase: Phase, reason: Reason, api_url: ApiUrl = DEFAULT_URL, token: Token = None
) -> None:
    """Close the open phase before its deadline."""
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/close-phase", {"phase": phase, "reason": reason}))


@cohort_app.command()
def extend(
    cohort_id: str,
    phase: Phase,
    new_deadline: Annotated[str, typer.Argument(help="ISO 8601 with its zone, e.g. 2026-03-01T18:00:00+08:00")],
    reason: Reason,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Move the open phase's deadline."""
    body = {"phase": phase, "new_deadline": _moment(new_deadline), "reason": reason}
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/extend-deadline", body))


@cohort_app.command("extend-block")
def extend_block(
    cohort_id: str,
    block: str,
    new_close: Annotated[str, typer.Argument(help="ISO 8601 with its zone, e.g. 2026-03-01T18:00:00+08:00")],
    reason: Reason,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Move an open block's close later; every later step of the programme moves back by as much."""
    body = {"block": block, "new_close": _moment(new_close), "reason": reason}
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/extend-block", body))


def _moment(text: str) -> str:
    """An ISO 8601 moment with its zone, as the API wants it; anything else ends the command with why."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _refuse(f"{text!r} is not an ISO 8601 date and time")
    if moment.tzinfo is None:
        _refuse(f"{text!r} has no zone; give one, e.g. {moment.isoformat()}+08:00")
    return moment.isoformat()


@cohort_app.command()
def withdraw(
    cohort_id: str, participant: str, reason: Reason, api_url: ApiUrl = DEFAULT_URL, token: Token = None
) -> None:
    """Withdraw a participant; while the programme allows, the place is refilled from the waiting list."""
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/withdrawals", {"participant_id": participant, "reason": reason}))


@cohort_app.command("fill-place")
def fill_place(
    cohort_id: str,
    reason: Reason,
    participant: Annotated[
        str | None, typer.Option(help="Who to promote (default: the next eligible on the waiting list)")
    ] = None,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Fill an open place from the waiting list."""
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/fill-place", {"participant_id": participant, "reason": reason}))


@cohort_app.command()
def correct(
    cohort_id: str,
    participant: str,
    field: Annotated[CorrectableField, typer.Argument(show_default=False)],
    value: str,
    reason: Reason,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Correct one recorded fact; the original stays in the history beside the correction."""
    body = {"participant_id": participant, "field": field, "value": value, "reason": reason}
    with _api(api_url, token) as api:
        _outcome(api.post(f"{_cohort(cohort_id)}/corrections", body))


def _participant(cohort_id: str, participant: str) -> str:
    return f"{_cohort(cohort_id)}/participants/{_segment(participant)}"


@cohort_app.command()
def timeline(
    cohort_id: str, participant: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None
) -> None:
    """Every recorded event about one participant, in order."""
    with _api(api_url, token) as api:
        body = api.get(f"{_participant(cohort_id, participant)}/timeline")

    def render(body: dict[str, Any]) -> None:
        events: list[dict[str, Any]] = body.get("events", body.get("entries")) or []
        title = _("{participant} in cohort {cohort}: {count} event(s)")
        table = Table(title=escape(title.format(participant=participant, cohort=cohort_id, count=len(events))))
        for column in ("position", "type", "recorded at", "actor", "data"):
            table.add_column(_(column), justify="right" if column == "position" else "left")
        for e in events:
            table.add_row(
                cell(e.get("position"), "position"),
                cell(e.get("type")),
                when(e.get("recorded_at")),
                cell(e.get("actor")),
                cell(e.get("data")),
            )
        print_table(console, table)

    _show(body, as_json, render)


CREDIT_COLUMNS = ("position", "recorded_at", "phase", "level", "hours", "reason", "reverses", "reversed_by")


@cohort_app.command()
def credits(
    cohort_id: str, participant: str, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None
) -> None:
    """A participant's credit-hour entries and totals."""
    with _api(api_url, token) as api:
        body = api.get(f"{_participant(cohort_id, participant)}/credits")

    def render(body: dict[str, Any]) -> None:
        entries: list[dict[str, Any]] = body.get("entries") or []
        present = [c for c in CREDIT_COLUMNS if any(c in e for e in entries)]
        title = _("Credit hours of {participant}: {count} entry(ies)")
        title = escape(title.format(participant=participant, count=len(entries)))
        print_table(console, rows_table(entries, title, present or None))
        print_table(console, fields({k: v for k, v in body.items() if k != "entries"}))

    _show(body, as_json, render)


@cohort_app.command("preview-reminder")
def cohort_preview_reminder(
    cohort_id: str,
    rule: str,
    participant_id: str,
    locale: Annotated[Literal["zh", "en"] | None, typer.Option(help="Default: the participant's own language")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """The message PARTICIPANT_ID would receive if RULE fired now."""
    with _api(api_url, token) as api:
        message = api.post(
            f"{_cohort(cohort_id)}/reminders/{_segment(rule)}/preview",
            {"participant_id": participant_id, "locale": locale},
        )
    _show(message, as_json, _print_message)


# ------------------------------------------------------------------- imports
def _import(
    kind: str,
    cohort_id: str,
    file: Path,
    accept_partial: bool,
    rejects_to: Path | None,
    block: str | None,
    api_url: str,
    token: str | None,
) -> None:
    media = _sheet_type(file, "an import")
    params = {"accept_partial": "true" if accept_partial else "false"}
    if block is not None:
        params["block"] = block
    with _api(api_url, token) as api:
        try:
            size = file.stat().st_size
            with _transfer(f"uploading {file.name}", size) as (bar, task):

                def sent(n: int) -> None:
                    bar.advance(task, n)
                    if bar.tasks[0].completed >= size:
                        bar.update(task, description="checking and applying")

                outcome = api.upload(
                    f"{_cohort(cohort_id)}/imports/{kind}", file, media, params=params, on_progress=sent
                )
        except Refused as exc:
            body = _refused_file(exc)
            exc.detail = f"nothing was applied from the {kind} file ({_counts(body)})"
            _rejects(api, body, rejects_to)
            report(exc, token)
            raise typer.Exit(2) from None
        _print_import(outcome, cohort_id)
        _rejects(api, outcome, rejects_to)


def _counts(outcome: Mapping[str, Any]) -> str:
    return f"{outcome.get('rows', 0):,} rows, {outcome.get('rejected', 0):,} rejected"


def _print_import(outcome: Mapping[str, Any], cohort_id: str) -> None:
    kind, status = outcome.get("kind"), outcome.get("status")
    already = int(outcome.get("already_applied") or 0)
    if status == "duplicate":
        rejected = int(outcome.get("rejected") or 0)
        console.print(
            f"[yellow]duplicate[/]: every row of this {kind} file is already applied in cohort {escape(cohort_id)} "
            f"({already:,} rows{f', {rejected:,} rejected' if rejected else ''}); nothing changed",
            highlight=False,
        )
        return
    console.print(
        f"[green]{escape(str(status))}[/]: {outcome.get('applied', 0):,} of {outcome.get('rows', 0):,} rows, "
        + (f"{already:,} already applied, " if already else "")
        + f"{outcome.get('rejected', 0):,} rejected",
        highlight=False,
    )
    problems: list[str] = outcome.get("problems") or []
    for problem in problems:
        err.print(f"[yellow]  {escape(problem)}[/]", highlight=False, soft_wrap=True)
    more = int(outcome.get("problem_count") or 0) - len(problems)
    if more > 0:
        err.print(f"[yellow]  … and {more:,} more[/]", highlight=False, soft_wrap=True)


def _rejects(api: ApiClient, outcome: Mapping[str, Any], target: Path | None) -> None:
    """Download the rejected rows when the API kept them and a path was given."""
    if not outcome.get("rejects_file"):
        return
    where = f"{API}/imports/{outcome['digest']}/rejects"
    ident = outcome.get("rejects_id")
    if target is None:
        query = f"?import_id={ident}" if ident else ""
        err.print(f"the rejected rows are kept: pass --rejects-to PATH, or GET {where}{query}", highlight=False)
        return
    written = api.download(where, target, params={"import_id": ident} if ident else None)
    err.print(f"rejected rows written to {escape(str(target))} ({written:,} bytes)", highlight=False)


SheetFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, show_default=False, help="CSV (UTF-8 or GB18030) or XLSX"
    ),
]
AcceptPartial = Annotated[bool, typer.Option("--accept-partial", help="Apply the good rows even if some are rejected")]
RejectsTo = Annotated[
    Path | None,
    typer.Option("--rejects-to", dir_okay=False, help="Save the rejected rows (with their reasons) here as CSV"),
]


BlockCode = Annotated[
    str | None,
    typer.Option("--block", help="In a block template's cohort: the open block the file is for, if several take it"),
]


def _import_command(kind: str) -> Callable[..., None]:
    def command(
        cohort_id: str,
        file: SheetFile,
        accept_partial: AcceptPartial = False,
        rejects_to: RejectsTo = None,
        block: BlockCode = None,
        api_url: ApiUrl = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        _import(kind, cohort_id, file, accept_partial, rejects_to, block, api_url, token)

    command.__doc__ = (
        f"Import {kind.replace('_', ' ')} rows: all of them, or none if any is bad (unless --accept-partial)."
    )
    return command


for _kind in IMPORT_KINDS:
    import_app.command(_kind)(_import_command(_kind))


# ------------------------------------------------------------------- exports
Format = Annotated[ExportFormat, typer.Option("--format", help="File format")]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", dir_okay=False, help="Where to write (default: COHORT-KIND.FORMAT)"),
]


def _export(kind: str, cohort_id: str, fmt: ExportFormat, output: Path | None, api_url: str, token: str | None) -> None:
    target = output or Path(f"{cohort_id}-{kind}.{fmt}")
    if not target.parent.is_dir():
        _refuse(f"{target.parent} is not a directory")
    with _api(api_url, token) as api, _transfer(f"{kind} of {cohort_id}", None) as (bar, task):
        written = api.download(
            f"{_cohort(cohort_id)}/exports/{kind}",
            target,
            params={"format": fmt},
            on_start=lambda total: bar.update(task, total=total),
            on_progress=lambda n: bar.advance(task, n),
        )
    console.print(f"wrote {kind} of cohort {escape(cohort_id)} to {escape(str(target))} ({written:,} bytes)")


def _export_command(kind: str) -> Callable[..., None]:
    def command(
        cohort_id: str,
        fmt: Format = "csv",
        output: Output = None,
        api_url: ApiUrl = DEFAULT_URL,
        token: Token = None,
    ) -> None:
        _export(kind, cohort_id, fmt, output, api_url, token)

    command.__doc__ = f"Download the cohort's {kind} list (streamed; national IDs as the token's role may see them)."
    return command


for _kind in EXPORT_KINDS:
    export_app.command(_kind)(_export_command(_kind))
