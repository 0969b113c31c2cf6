"""The administrators' CLI against the real API: uvicorn in the test's loop, a worker, the time-skipping server.

The CLI runs in a thread (it is a synchronous HTTP client) while the API and
the worker run in the test's event loop, so every command goes through the
same authentication, roles and refusals as any other client of the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn
import yaml
from fastapi import FastAPI
from rich.console import Console
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cohortflow.access.tokens import issue_token
from cohortflow.api import commands
from cohortflow.api.app import create_app
from cohortflow.cli import admin as cli_admin
from cohortflow.cli import client as cli_client
from cohortflow.cli.client import TOKEN_ENV, URL_ENV
from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.nomination import NomineeRow
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.store_outage import Outage, Unreachable
from tests.workflows.helpers import running_worker, terminate_cohorts

PROGRAMME = sample_programme(120, 20)
PROGRAMME_ID = PROGRAMME.id
PEOPLE = nominees(PROGRAMME, seed=7)
COLUMNS = ("participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role")

cli = typer.Typer()
cli.add_typer(cli_admin.programme_app, name="programme")
cli.add_typer(cli_admin.cohort_app, name="cohort")
cli.add_typer(cli_admin.import_app, name="import")
cli.add_typer(cli_admin.export_app, name="export")
cli.add_typer(cli_admin.plan_app, name="plan")
runner = CliRunner()


class _Server(uvicorn.Server):
    """Leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    app: FastAPI
    url: str
    tokens: dict[str, str]

    async def run(self, *args: str | Path, role: str | None = "admin") -> Result:
        """``cohortflow ARGS`` with ``role``'s token (None: no token at all)."""
        env = {URL_ENV: self.url, TOKEN_ENV: self.tokens[role] if role else ""}
        return await asyncio.to_thread(runner.invoke, cli, [str(a) for a in args], env=env)


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their content, so that assertions need not guess where rich wraps."""
    monkeypatch.setattr(cli_admin, "console", Console(width=240))
    monkeypatch.setattr(cli_admin, "err", Console(stderr=True, width=240))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(
    database_url: str, store: EventStore, time_skipping: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Served]:
    settings = Settings(task_queue=task_queue, state_dir=tmp_path / "state")
    tokens = {
        role: (await issue_token(store.pool, name=f"{role}-1", role=role, prefecture=None, issued_by="tests")).secret
        for role in ("admin", "auditor")
    }
    app = create_app(settings, database_url, temporal=time_skipping.client)
    port = _free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with running_worker(time_skipping.client, store, task_queue, uploads=settings.uploads):
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if task.done():
                    task.result()  # the server failed to start: say why
                    raise AssertionError("the API stopped before it started")
                await asyncio.sleep(0.02)
            yield Served(app, f"http://127.0.0.1:{port}", tokens)
        finally:
            server.should_exit = True
            await task
    await terminate_cohorts(time_skipping.client, store)


def _template_file(path: Path, **changes: Any) -> Path:
    data = PROGRAMME.model_dump(mode="json") | changes
    if path.suffix == ".json":
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _nominee_file(path: Path, people: list[NomineeRow]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for p in people:
            writer.writerow([getattr(p, column) for column in COLUMNS])
    return path


def _with_bad_id(index: int) -> tuple[list[NomineeRow], int]:
    """The sample's nominees with a wrong check digit in one ID number, and that row's number."""
    people = list(PEOPLE)
    p = people[index]
    bad = p.national_id[:-1] + ("1" if p.national_id[-1] != "1" else "2")
    people[index] = NomineeRow(**{**vars(p), "national_id": bad})
    return people, p.row


async def _submit_programme(served: Served, tmp_path: Path) -> None:
    result = await served.run("programme", "submit", _template_file(tmp_path / "v1.json"))
    assert result.exit_code == 0, result.output


async def _start_cohort(served: Served, cohort_id: str) -> dict[str, Any]:
    result = await served.run("cohort", "start", cohort_id, "--programme", PROGRAMME_ID, "--version", "1")
    assert result.exit_code == 0, result.output
    assert f"started cohort {cohort_id} (workflow cohort-{cohort_id})" in result.stdout
    for _ in range(200):  # the start may not be recorded yet
        status = await served.run("cohort", "status", cohort_id, "--json")
        if status.exit_code == 0:
            body: dict[str, Any] = json.loads(status.stdout)
            if body["phase"] == "nomination":
                return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cohort never answered its status: {status.output}")


async def test_programme_submit_list_show_diff_and_validate(served: Served, tmp_path: Path) -> None:
    first = await served.run("programme", "submit", _template_file(tmp_path / "v1.json"))
    assert first.exit_code == 0, first.output
    assert f"recorded programme {PROGRAMME_ID} version 1, digest {PROGRAMME.digest[:12]}" in first.stdout

    again = await served.run("programme", "submit", tmp_path / "v1.json")
    assert again.exit_code == 0, again.output
    assert "already recorded with this content; nothing changed" in again.stdout

    v2 = _template_file(tmp_path / "v2.yaml", version=2, name="示范培训（第二版）")
    second = await served.run("programme", "submit", v2)
    assert second.exit_code == 0, second.output
    assert "version 2" in second.stdout

    listed = await served.run("programme", "list")
    assert listed.exit_code == 0, listed.output
    assert "2 programme version(s)" in listed.stdout
    assert PROGRAMME.digest[:12] in listed.stdout
    assert "admin:admin-1" in listed.stdout  # the token's holder is who submitted it
    rows = json.loads((await served.run("programme", "list", "--json")).stdout)
    assert [(r["programme_id"], r["version"], r["submitted_by"]) for r in rows] == [
        (PROGRAMME_ID, 1, "admin:admin-1"),
        (PROGRAMME_ID, 2, "admin:admin-1"),
    ]
    named = json.loads((await served.run("programme", "list", "--name", "第二版", "--json")).stdout)
    assert [r["version"] for r in named] == [2]
    of_kind = await served.run("programme", "list", "--kind", "thematic", "--prefecture", "110000")
    assert of_kind.exit_code == 0 and "no programme version matches these options" in of_kind.stdout, of_kind.output
    unknown_kind = await served.run("programme", "list", "--kind", "annual")
    assert unknown_kind.exit_code == 2 and "--kind" in unknown_kind.output  # refused before sending
    versions = json.loads((await served.run("programme", "versions", PROGRAMME_ID, "--json")).stdout)
    assert [v["version"] for v in versions] == [1, 2]
    with cli_client.ApiClient(served.url, served.tokens["admin"]) as api:  # pages of one, followed by Link rel=next
        paged = await asyncio.to_thread(api.get_all, f"/api/v1/programmes/{PROGRAMME_ID}/versions", limit=1)
    assert [v["version"] for v in paged] == [1, 2]

    shown = await served.run("programme", "show", PROGRAMME_ID, "2")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["name"] == "示范培训（第二版）"

    changes = await served.run("programme", "diff", PROGRAMME_ID, "1", "2")
    assert changes.exit_code == 0, changes.output
    assert re.search(r"replace\s+│\s+/name\s+│\s+示范培训（第二版）", changes.stdout), changes.stdout
    assert re.search(r"replace\s+│\s+/version\s+│\s+2", changes.stdout), changes.stdout
    ops = json.loads((await served.run("programme", "diff", PROGRAMME_ID, "1", "2", "--json")).stdout)
    assert {(op["op"], op["path"]) for op in ops} == {("replace", "/name"), ("replace", "/version")}

    broken = _template_file(tmp_path / "broken.yaml", candidates=-5, phases=[])
    refused = await served.run("programme", "validate", broken)
    assert refused.exit_code == 2, refused.output
    assert "refused (422): programme template is invalid" in refused.stderr
    problems = [line.strip() for line in refused.stderr.splitlines()[1:] if line.strip()]
    assert any("candidates" in p for p in problems), refused.stderr
    assert any("phases" in p for p in problems), refused.stderr
    assert refused.stdout == ""

    valid = await served.run("programme", "validate", tmp_path / "v1.json", role="auditor")
    assert valid.exit_code == 0, valid.output
    assert f"valid: programme {PROGRAMME_ID} version 1" in valid.stdout

    examples = Path(__file__).parents[2] / "examples" / "programmes"
    for name, programme_id in [
        ("leader-programme", "city-leading-principals"),
        ("placement", "district-principal-placement"),
    ]:
        blocks = await served.run("programme", "validate", examples / f"{name}.yaml", role="auditor")
        assert blocks.exit_code == 0, blocks.output
        assert f"valid: programme {programme_id} version 1" in blocks.stdout
    schema = json.loads((await served.run("programme", "schema")).stdout)
    assert "evaluation" in schema["properties"]["stages"]["items"]["discriminator"]["mapping"]

    missing = await served.run("programme", "show", PROGRAMME_ID, "9")
    assert missing.exit_code == 2
    assert f"refused (404): programme {PROGRAMME_ID} has no version 9" in missing.stderr


async def test_a_rotation_plan_is_started_and_shown(served: Served, tmp_path: Path) -> None:
    await _submit_programme(served, tmp_path)
    args = ["--programme", PROGRAMME_ID, "--version", "1", "--first-year", "2026", "--years", "3"]
    started = await served.run("plan", "start", "cli-rot", *args, "--name", "校长轮训")
    assert started.exit_code == 0, started.output
    assert "started rotation plan cli-rot: cohorts cli-rot-2026, cli-rot-2027, cli-rot-2028" in started.stdout
    twice = await served.run("plan", "start", "cli-rot", *args, "--name", "校长轮训")
    assert twice.exit_code == 2 and "refused (409): rotation plan cli-rot already exists" in twice.stderr
    shown = json.loads((await served.run("plan", "status", "cli-rot", "--json")).stdout)
    assert shown["planned"] == ["cli-rot-2026", "cli-rot-2027", "cli-rot-2028"]
    assert shown["started"] in ([], ["cli-rot-2026"])  # the first cohort starts as the plan's workflow runs
    table = await served.run("plan", "status", "cli-rot")
    assert "cli-rot-2028  planned" in table.stdout

    roster = tmp_path / "名册.csv"
    roster.write_text(
        "姓名,身份证号,市州代码\n" + "".join(f"{p.name},{p.national_id},{p.prefecture_code}\n" for p in PEOPLE[:5])
    )
    for _ in range(100):  # the roster is taken once the plan has recorded its start
        added = await served.run("plan", "roster", "cli-rot", roster)
        if "still starting" not in added.stderr:
            break
        await asyncio.sleep(0.05)
    assert added.exit_code == 0, added.output
    assert "added 5 people to the roster of plan cli-rot" in added.stdout
    assert "roster 5; enrolled 0; not yet enrolled 5" in (await served.run("plan", "status", "cli-rot")).stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,身份证号,市州代码\n王芳,110101199003070000,430100\n")
    refused = await served.run("plan", "roster", "cli-rot", bad)
    assert refused.exit_code == 2
    assert "refused (422): nobody was added to the roster (1 rows)" in refused.stderr
    assert "row 2, national_id: check digit is 0, expected" in refused.stderr


async def test_cohort_start_status_imports_and_refusals(served: Served, tmp_path: Path) -> None:
    await _submit_programme(served, tmp_path)
    status = await _start_cohort(served, "cli-c1")
    assert status["phase"] == "nomination"
    assert status["programme_version"] == 1

    table = await served.run("cohort", "status", "cli-c1")
    assert table.exit_code == 0, table.output
    assert re.search(r"phase\s+│\s+nomination", table.stdout), table.stdout
    assert re.search(r"│ counters\s+│\s+│\n│   candidates\s+│ 0 ", table.stdout), table.stdout

    # One wrong ID number: the whole file is refused and the row is named.
    people, bad_row = _with_bad_id(4)
    refused = await served.run("import", "nominees", "cli-c1", _nominee_file(tmp_path / "bad.csv", people))
    assert refused.exit_code == 2, refused.output
    assert "refused (422): nothing was applied from the nominees file (120 rows, 1 rejected)" in refused.stderr
    assert f"row {bad_row}, national_id" in refused.stderr

    good = _nominee_file(tmp_path / "nominees.csv", PEOPLE)
    applied = await served.run("import", "nominees", "cli-c1", good)
    assert applied.exit_code == 0, applied.output
    assert "applied: 120 of 120 rows, 0 rejected" in applied.stdout

    duplicate = await served.run("import", "nominees", "cli-c1", good)
    assert duplicate.exit_code == 0, duplicate.output
    assert (
        "duplicate: every row of this nominees file is already applied in cohort cli-c1 (120 rows)" in duplicate.stdout
    )
    counters = json.loads((await served.run("cohort", "status", "cli-c1", "--json")).stdout)["counters"]
    assert counters["candidates"] == 120

    wrong_phase = await served.run("import", "study_records", "cli-c1", good)
    assert wrong_phase.exit_code == 2
    assert "a study_records file belongs to the online_study phase; the cohort is in nomination" in wrong_phase.stderr

    not_open = await served.run("cohort", "close-phase", "cli-c1", "selection", "--reason", "enough")
    assert not_open.exit_code == 2, not_open.output
    assert "refused (409): phase selection is not open; the open phase is nomination" in not_open.stderr

    deadline = datetime.fromisoformat(status["deadline"]) + timedelta(days=3)
    extended = await served.run("cohort", "extend", "cli-c1", "nomination", deadline.isoformat(), "--reason", "late")
    assert extended.exit_code == 0, extended.output
    assert "extended" in extended.stdout
    moved = json.loads((await served.run("cohort", "status", "cli-c1", "--json")).stdout)["deadline"]
    assert datetime.fromisoformat(moved) == deadline
    no_zone = await served.run("cohort", "extend", "cli-c1", "nomination", "2030-01-01T00:00:00", "--reason", "r")
    assert no_zone.exit_code == 2
    assert "has no zone" in no_zone.stderr

    corrected = await served.run(
        "cohort", "correct", "cli-c1", PEOPLE[0].participant_id, "name", "张三", "--reason", "typo"
    )
    assert corrected.exit_code == 0, corrected.output
    assert "corrected" in corrected.stdout

    auditor = await served.run(
        "cohort", "start", "cli-c9", "--programme", PROGRAMME_ID, "--version", "1", role="auditor"
    )
    assert auditor.exit_code == 2
    assert "refused (403): role auditor may not cohorts:start" in auditor.stderr

    invalid = await served.run("cohort", "start", "no spaces", "--programme", PROGRAMME_ID, "--version", "1")
    assert invalid.exit_code == 2
    assert "refused (422): the request is not valid" in invalid.stderr
    assert "body.cohort_id: String should match pattern" in invalid.stderr

    anonymous = await served.run("cohort", "status", "cli-c1", role=None)
    assert anonymous.exit_code == 2
    assert "refused (401): missing bearer token" in anonymous.stderr
    assert f"set {TOKEN_ENV} or pass --token" in anonymous.stderr

    unknown = await served.run("cohort", "status", "nope")
    assert unknown.exit_code == 2
    assert "refused (404)" in unknown.stderr

    not_a_sheet = await served.run("import", "nominees", "cli-c1", tmp_path / "v1.json")
    assert not_a_sheet.exit_code == 2
    assert "an import is a .csv, .txt or .xlsx file" in not_a_sheet.stderr


async def test_partial_import_downloads_the_rejected_rows(served: Served, tmp_path: Path) -> None:
    await _submit_programme(served, tmp_path)
    await _start_cohort(served, "cli-c2")
    people, bad_row = _with_bad_id(10)
    rejects = tmp_path / "rejects.csv"
    result = await served.run(
        "import",
        "nominees",
        "cli-c2",
        _nominee_file(tmp_path / "partial.csv", people),
        "--accept-partial",
        "--rejects-to",
        rejects,
    )
    assert result.exit_code == 0, result.output
    assert "applied: 119 of 120 rows, 1 rejected" in result.stdout
    assert f"row {bad_row}, national_id" in result.stderr
    assert f"rejected rows written to {rejects}" in result.stderr
    kept = list(csv.reader(rejects.read_text(encoding="utf-8-sig").splitlines()))
    assert kept[0][:2] == ["row", "problems"]
    assert [(r[0], people[10].participant_id in r) for r in kept[1:]] == [(str(bad_row), True)]


async def test_read_model_commands(served: Served, tmp_path: Path) -> None:
    await _submit_programme(served, tmp_path)
    await _start_cohort(served, "cli-c3")
    imported = await served.run("import", "nominees", "cli-c3", _nominee_file(tmp_path / "n.csv", PEOPLE))
    assert imported.exit_code == 0, imported.output
    await served.app.state.projector.catch_up(wait=True)
    pid = PEOPLE[0].participant_id
    listed = await served.run("cohort", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert "cli-c3" in [row["cohort_id"] for row in json.loads(listed.stdout)]
    table = await served.run("cohort", "list")
    assert table.exit_code == 0 and "cli-c3" in table.stdout, table.output
    chosen = await served.run("cohort", "list", "--programme", PROGRAMME_ID, "--state", "running", "--json")
    assert [row["cohort_id"] for row in json.loads(chosen.stdout)] == ["cli-c3"], chosen.output
    none = await served.run("cohort", "list", "--programme", PROGRAMME_ID, "--state", "completed")
    assert none.exit_code == 0 and "no cohort matches these options" in none.stdout, none.output
    stalled = await served.run("cohort", "stalled", "--programme", PROGRAMME_ID, "--min-minutes", "0")
    assert stalled.exit_code == 0 and "no stalled cohort matches these options" in stalled.stdout, stalled.output
    funnel = await served.run("cohort", "funnel", "cli-c3")
    assert funnel.exit_code == 0, funnel.output
    assert "total" in funnel.stdout
    assert PROGRAMME.prefectures[0].name in funnel.stdout
    timeline = await served.run("cohort", "timeline", "cli-c3", pid)
    assert timeline.exit_code == 0, timeline.output
    assert f"{pid} in cohort cli-c3" in timeline.stdout
    credits = await served.run("cohort", "credits", "cli-c3", pid)
    assert credits.exit_code == 0, credits.output
    target = tmp_path / "nominees.csv.out"
    exported = await served.run("export", "nominees", "cli-c3", "--output", target)
    assert exported.exit_code == 0, exported.output
    assert target.read_bytes().startswith("\ufeff".encode())
    assert f"to {target}" in exported.stdout


async def test_status_and_credits_read_as_sections_with_years_and_local_times(served: Served, tmp_path: Path) -> None:
    await _submit_programme(served, tmp_path)
    await _start_cohort(served, "cli-c5")
    imported = await served.run("import", "nominees", "cli-c5", _nominee_file(tmp_path / "n.csv", PEOPLE))
    assert imported.exit_code == 0, imported.output
    await served.app.state.projector.catch_up(wait=True)

    status = await served.run("cohort", "status", "cli-c5")
    assert status.exit_code == 0, status.output
    assert "execution." not in status.stdout and "counters." not in status.stdout  # sections, not dotted keys
    assert re.search(r"│ execution\s+│\s+│", status.stdout), status.stdout
    assert re.search(r"│   state\s+│ running", status.stdout), status.stdout
    assert re.search(r"│ programme version\s+│ 1 ", status.stdout), status.stdout
    assert re.search(r"│ deadline\s+│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", status.stdout), status.stdout

    credits = await served.run("cohort", "credits", "cli-c5", PEOPLE[0].participant_id)
    assert credits.exit_code == 0, credits.output
    assert "current_cycle" not in credits.stdout and "cycle.first" not in credits.stdout
    assert re.search(r"│ current cycle\s+│", credits.stdout), credits.stdout
    assert re.search(r"│     first year\s+│ 20\d\d\s", credits.stdout), credits.stdout  # a year, not 2,026
    assert re.search(r"│   requirement hours\s+│ 360\s", credits.stdout), credits.stdout


async def test_a_reminder_rules_message_is_previewed(served: Served, tmp_path: Path) -> None:
    reminders = sample_programme(120, 20, reminders=True).model_dump(mode="json")["reminders"]
    path = _template_file(tmp_path / "v1.json", reminders=reminders)
    assert (await served.run("programme", "submit", path)).exit_code == 0
    zh = await served.run("programme", "preview-reminder", PROGRAMME_ID, "1", "study-hours", "--value", "name=王芳")
    assert zh.exit_code == 0, zh.output
    assert "网络研修学时提醒" in zh.stdout and "王芳老师" in zh.stdout and "<deadline>" in zh.stdout
    en = await served.run("programme", "preview-reminder", PROGRAMME_ID, "1", "study-hours", "--locale", "en")
    assert en.exit_code == 0 and "Dear <name>" in en.stdout
    unknown = await served.run("programme", "preview-reminder", PROGRAMME_ID, "1", "nope")
    assert unknown.exit_code == 2 and "has no reminder rule 'nope'" in unknown.stderr
    malformed = await served.run("programme", "preview-reminder", PROGRAMME_ID, "1", "study-hours", "--value", "x")
    assert malformed.exit_code == 2 and "--value takes name=value" in malformed.stderr


def test_an_unreachable_api_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = runner.invoke(cli, ["programme", "list"], env={URL_ENV: url, TOKEN_ENV: "x"})
    assert result.exit_code == 1
    assert f"cannot reach the API at {url} — is `cohortflow up` running?" in result.stderr


def test_a_file_of_an_unknown_kind_is_refused_before_sending(tmp_path: Path) -> None:
    template = tmp_path / "programme.txt"
    template.write_text("{}", encoding="utf-8")
    result = runner.invoke(cli, ["programme", "validate", str(template)], env={URL_ENV: "http://127.0.0.1:9"})
    assert result.exit_code == 2
    assert "a programme template is a .json, .yaml or .yml file" in result.stderr


async def test_a_block_cohort_is_started_fed_shown_and_steered(served: Served) -> None:
    examples = Path(__file__).parents[2] / "examples"
    submitted = await served.run("programme", "submit", str(examples / "programmes" / "placement.yaml"))
    assert submitted.exit_code == 0, submitted.output
    started = await served.run(
        "cohort", "start", "cli-fr", "--programme", "district-principal-placement", "--version", "1"
    )
    assert started.exit_code == 0, started.output
    for _ in range(200):  # the start may not be recorded yet
        shown = await served.run("cohort", "status", "cli-fr")
        if shown.exit_code == 0 and "enrolment" in shown.stdout:
            break
        await asyncio.sleep(0.05)
    assert "open blocks of cohort cli-fr" in shown.stdout and "enrolment" in shown.stdout, shown.output
    nominees = str(examples / "imports" / "placement" / "nominees.csv")
    imported = await served.run("import", "nominees", "cli-fr", nominees)
    assert imported.exit_code == 0, imported.output
    wrong = await served.run("import", "tasks", "cli-fr", str(examples / "imports" / "placement" / "tasks.csv"))
    assert wrong.exit_code == 2
    assert "no open block takes tasks files; the open blocks are: enrolment" in wrong.output
    zoneless = await served.run("cohort", "extend-block", "cli-fr", "enrolment", "2030-01-01T18:00", "--reason", "r")
    assert zoneless.exit_code == 2 and "has no zone" in zoneless.output
    extended = await served.run(
        "cohort", "extend-block", "cli-fr", "enrolment", "2099-01-01T18:00:00+08:00", "--reason", "两个区县补报"
    )
    assert extended.exit_code == 0 and "extended" in extended.output, extended.output
    closed = await served.run("cohort", "close-block", "cli-fr", "enrolment", "--reason", "名单已确定")
    assert closed.exit_code == 0, closed.output
    again = await served.run("cohort", "close-block", "cli-fr", "enrolment", "--reason", "twice")
    assert again.exit_code == 2 and "block enrolment is not open" in again.output, again.output


async def test_a_command_is_sent_again_while_the_database_is_out(
    served: Served, unreachable: Unreachable, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API answers 503 with Retry-After while its database refuses connections; the CLI says so, waits as
    asked and sends the command again, and it succeeds once the database is back."""
    waits: list[float] = []

    def database_back(seconds: float) -> None:
        waits.append(seconds)
        unreachable.end()

    monkeypatch.setattr(cli_client, "pause", database_back)
    unreachable.begin()
    try:
        listed = await served.run("cohort", "list")
    finally:
        unreachable.end()
    await store.pool.check()  # the test's own connections were ended with the others
    assert listed.exit_code == 0, listed.output
    assert "no cohorts yet" in listed.stdout
    assert waits and waits[0] == 5 and len(waits) <= 5, waits
    assert re.search(r"the API cannot serve this now \(503: .+\); trying again in 5 s \(1 of 5\)", listed.stderr)
    stalled = await served.run("cohort", "stalled")
    assert stalled.exit_code == 0 and "no cohort is stalled" in stalled.stdout, stalled.output


async def test_a_command_sent_again_after_an_outage_carries_its_own_key_each_time(
    served: Served, unreachable: Unreachable, store: EventStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each attempt of one POST carries the same Idempotency-Key, and another POST a key of its own; the API
    applies the command once and answers it."""
    monkeypatch.setattr(cli_client, "pause", lambda _: unreachable.end())
    sent: list[tuple[str, str | None]] = []
    template = json.loads(_template_file(tmp_path / "v1.json").read_text(encoding="utf-8"))

    def submitted() -> Any:
        with cli_client.ApiClient(served.url, served.tokens["admin"]) as api:
            api._http.event_hooks["request"].append(lambda r: sent.append((r.method, r.headers.get("Idempotency-Key"))))
            return api.post("/api/v1/programmes", json=template), api.post("/api/v1/programmes", json=template)

    unreachable.begin()
    try:
        first, second = await asyncio.to_thread(submitted)
    finally:
        unreachable.end()
    await store.pool.check()
    assert first["duplicate"] is False and second["duplicate"] is True  # the second POST is a request of its own
    # The first POST is refused while the store is unreachable and sent again, each time with one key (a third time
    # when the API's first use of a connection it held through the outage fails too); the second POST has its own.
    *attempts, other = [key for method, key in sent if method == "POST"]
    assert len(attempts) >= 2 and len(set(attempts)) == 1 and all(attempts), sent
    assert other and other not in attempts, sent


async def test_an_import_accepted_during_an_outage_is_followed_to_its_outcome(
    served: Served,
    time_skipping: WorkflowEnvironment,
    outage: Outage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API answers 202 while the store is out; the CLI says so and asks for the outcome until it is there."""
    monkeypatch.setattr(commands, "COMMAND_WAIT", 1.0)
    await _submit_programme(served, tmp_path)
    await _start_cohort(served, "cli-out")
    outage.begin()
    importing = asyncio.create_task(
        served.run("import", "nominees", "cli-out", _nominee_file(tmp_path / "nominees.csv", PEOPLE))
    )
    await asyncio.sleep(3)  # the import is answered 202 after a second, and then followed
    assert not importing.done()
    outage.end()
    await time_skipping.sleep(timedelta(minutes=1))
    imported = await importing
    assert imported.exit_code == 0, imported.output
    assert "the command is accepted and not yet applied; waiting for its outcome at /api/v1/commands/" in (
        imported.stderr
    )
    assert "applied: 120 of 120 rows, 0 rejected" in imported.stdout
