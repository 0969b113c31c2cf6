"""`cohortflow review ...`: a district's annual review of its schools' credits, as a client of the API
(``/api/v1/reviews``). Exit codes as the other API commands: 0 done, 2 refused, 1 the API failed or could not be
reached."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from cohortflow.cli.admin import API, ApiUrl, AsJson, Token, _api, _segment, _show
from cohortflow.cli.client import DEFAULT_URL
from cohortflow.cli.display import fields, print_table, rows_table
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import _

review_app = sub_app("review")
console = Console()
District = Annotated[str, typer.Argument(help="The county's (district's) six-digit division code", show_default=False)]
Year = Annotated[int, typer.Argument(help="The year reviewed", show_default=False)]
School = Annotated[str, typer.Argument(help="The school's name", show_default=False)]


def _render(body: dict[str, Any]) -> None:
    head = {k: v for k, v in body.items() if k != "schools"}
    print_table(console, fields(head, _("review of district {district}, {year}").format(**body)))
    print_table(console, rows_table(body["schools"], _("schools"), ["school", "state", "reasons", "decided_by"]))


def _where(district: str, year: int) -> str:
    return f"{API}/reviews/{_segment(district)}/{year}"


@review_app.command("open")
def open_review(
    district: District,
    year: Year,
    deadline: Annotated[str, typer.Option("--deadline", help="The last day, YYYY-MM-DD")],
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Open the district's review of its schools' credits for the year."""
    with _api(api_url, token) as api:
        body = api.post(f"{API}/reviews", {"district": district, "year": year, "deadline": deadline})
    _show(body, as_json, _render)


@review_app.command("status")
def status(
    district: District, year: Year, as_json: AsJson = False, api_url: ApiUrl = DEFAULT_URL, token: Token = None
) -> None:
    """Where each school's list stands, and whether the year is locked."""
    with _api(api_url, token) as api:
        body = api.get(_where(district, year))
    _show(body, as_json, _render)


@review_app.command("list")
def school_list(
    district: District,
    year: Year,
    school: School,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """What a school's list holds: every entry of its people earned in the year, and the hours that stand."""
    with _api(api_url, token) as api:
        body = api.get(f"{_where(district, year)}/schools/{_segment(school)}")

    def render(found: dict[str, Any]) -> None:
        head = {k: v for k, v in found.items() if k != "entries"}
        print_table(console, fields(head, _("list of {school}, {year}").format(**found)))
        columns = ["name", "national_id", "title", "hours", "level", "source", "earned_on", "recorded_on", "reverses"]
        print_table(console, rows_table(found["entries"], _("entries"), columns))

    _show(body, as_json, render)


def _step(district: str, year: int, school: str, step: str, body: Any, api_url: str, token: str | None) -> None:
    with _api(api_url, token) as api:
        answer = api.post(f"{_where(district, year)}/schools/{_segment(school)}/{step}", body)
    _render(answer)


@review_app.command("submit")
def submit(district: District, year: Year, school: School, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Submit a school's list for review."""
    _step(district, year, school, "submit", None, api_url, token)


@review_app.command("approve")
def approve(district: District, year: Year, school: School, api_url: ApiUrl = DEFAULT_URL, token: Token = None) -> None:
    """Approve a submitted list; the last approval locks the district's year."""
    _step(district, year, school, "approve", None, api_url, token)


@review_app.command("return")
def return_list(
    district: District,
    year: Year,
    school: School,
    reasons: Annotated[list[str], typer.Option("--reason", help="Why it goes back (repeat for several)")],
    api_url: ApiUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Send a submitted list back to the school with the reasons."""
    _step(district, year, school, "return", {"reasons": reasons}, api_url, token)
