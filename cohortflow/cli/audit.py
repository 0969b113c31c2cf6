"""`cohortflow audit ...`: read-only questions an auditor asks, each recorded in the history."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cohortflow.cli.display import print_table
from cohortflow.cli.groups import sub_app
from cohortflow.cli.messages import said
from cohortflow.cli.store import run_on_store
from cohortflow.domain.cohort_stream import cohort_stream

if TYPE_CHECKING:
    from cohortflow.audit.verify import (
        ChainReport,
        ExportedDigest,
    )
    from cohortflow.certificates.lookup import FoundCertificate
    from cohortflow.store.eventstore import EventStore


app = sub_app("audit")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")

DEFAULT_ACTOR = getpass.getuser()
Actor = Annotated[str, typer.Option(envvar="COHORTFLOW_ACTOR", help="Who is asking (recorded with the query)")]


class Refused(Exception):
    """Bad input: reported, exit code 2, nothing written."""


def _run(work: Callable[[EventStore], Awaitable[T]]) -> T:
    from cohortflow.audit.verify import ForeignDigest
    from cohortflow.domain.programme import ProgrammeInvalid

    return run_on_store(work, (Refused, ForeignDigest, LookupError, ProgrammeInvalid))


def _load_digest(path: Path | None) -> ExportedDigest | None:
    from pydantic import ValidationError

    from cohortflow.audit.verify import ExportedDigest

    if path is None:
        return None
    try:
        return ExportedDigest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise Refused(f"cannot read the digest {path}: {exc}") from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"{text!r} is not an ISO date and time (e.g. 2024-05-01T12:00:00+08:00)") from None
    if moment.tzinfo is None:
        raise Refused(f"{text!r} has no time zone; add one, e.g. +08:00")
    return moment


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@app.command()
def digest(
    out: Annotated[Path | None, typer.Option(help="Also write the digest to this file")] = None,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Export the chain's head digest (store id, position, hash, time) to keep outside the database."""
    from cohortflow.audit.journal import record_query
    from cohortflow.audit.verify import export_digest

    async def work(store: EventStore) -> ExportedDigest:
        exported = await export_digest(store, datetime.now(UTC))
        await record_query(store, actor, "digest", {}, f"position {exported.position}")
        return exported

    exported = _run(work)
    text = exported.model_dump_json(indent=2)
    if out is not None:
        out.write_text(text + "\n")
    typer.echo(text)


@app.command()
def verify(
    digest_file: Annotated[Path | None, typer.Option("--digest", help="A digest exported earlier")] = None,
    cohort: Annotated[str | None, typer.Option(help="Only this cohort's events")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Recompute the hash chain; report the first break, its position and its kind. Exit 1 if broken."""
    from cohortflow.audit.journal import record_verification
    from cohortflow.audit.verify import verify_cohort, verify_store

    async def work(store: EventStore) -> ChainReport:
        expected = _load_digest(digest_file)
        report = await (verify_store(store, expected) if cohort is None else verify_cohort(store, cohort, expected))
        await record_verification(store, actor, {"cohort": cohort or "", "digest": str(digest_file or "")}, report)
        return report

    report = _run(work)
    if as_json:
        _print_json(report.model_dump(mode="json") | {"ok": report.ok})
    else:
        console.print(f"{report.scope}: {report.checked:,} events checked, head {report.head_position}")
        if report.re_encoded:
            console.print(report.rules)
        for b in report.breaks:
            console.print(f"[red]position {b.position}: {b.kind}[/] — {escape(said(b.detail))}")
        console.print("[green]intact[/]" if report.ok else "[red]NOT intact[/]")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def bundle(
    out: Annotated[Path, typer.Option(help="The JSON Lines file to write")],
    cohort: Annotated[str | None, typer.Option(help="Only this cohort (default: everything)")] = None,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Export events, programme versions and the digest as a bundle that checks offline."""
    from cohortflow.audit.bundle import write_bundle
    from cohortflow.audit.journal import record_query

    async def work(store: EventStore) -> str:
        summary = await write_bundle(store, out, datetime.now(UTC), cohort)
        await record_query(store, actor, "bundle", {"cohort": cohort or "", "out": str(out)}, f"{summary.events}")
        return f"{summary.events:,} events and {summary.programmes} programme version(s) written to {out}"

    console.print(_run(work))


@app.command("check-bundle")
def check_bundle(
    path: Path,
    digest_file: Annotated[Path | None, typer.Option("--digest", help="A digest exported earlier")] = None,
    certificate: Annotated[
        str | None, typer.Option(metavar="CODE", help="Also find this certificate's code in the bundle")
    ] = None,
) -> None:
    """Check a bundle offline (the same code as the standalone verifier). Exit 1 if it is not intact (or, with
    --certificate, does not hold the code)."""
    from cohortflow.audit import standalone_verifier

    args = [str(path)] + (["--digest", str(digest_file)] if digest_file else [])
    args += ["--certificate", certificate] if certificate else []
    raise typer.Exit(standalone_verifier.main(args))


@app.command()
def certificate(
    code: Annotated[str, typer.Argument(help="The verification code printed on the certificate")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Verify a certificate's code: find its CertificateIssued event, recompute the chain up to it, print what it
    records. Exit 1 if no certificate has the code or the chain is broken, 2 if the text cannot be a code."""
    from cohortflow.audit.journal import record_query
    from cohortflow.audit.verify import verify_store
    from cohortflow.certificates.lookup import certificate_by_code
    from cohortflow.domain.certificate_codes import MalformedCode, parse_code

    try:
        printed = parse_code(code)
    except MalformedCode as exc:
        err.print(f"[red]{escape(said(str(exc)))}[/]", highlight=False)
        raise typer.Exit(2) from None

    async def work(store: EventStore) -> tuple[FoundCertificate | None, ChainReport | None]:
        found = await certificate_by_code(store, printed)
        if found is None:
            await record_query(store, actor, "certificate", {"code": printed}, "not in the history")
            return None, None
        report = await verify_store(store, until=found.position)
        if report.ok:  # nothing is appended to a broken chain (see record_verification)
            await record_query(store, actor, "certificate", {"code": printed}, f"verified at {found.position}")
        return found, report

    found, report = _run(work)
    if found is None or report is None:
        err.print(f"[red]no certificate with the code {printed} is in the history: NOT verified[/]", highlight=False)
        raise typer.Exit(1)
    facts = found.certificate.model_dump(mode="json", exclude={"person_key"})
    if as_json:
        _print_json({"code": printed, "verified": report.ok, "position": found.position, "certificate": facts})
    else:
        console.print(f"certificate {printed}: recorded at position {found.position}, {found.recorded_at.isoformat()}")
        table = Table(show_header=False)
        for name, value in facts.items():
            table.add_row(name, "" if value is None else escape(str(value)))
        print_table(console, table)
        console.print(f"{report.scope}: {report.checked:,} events checked")
        for b in report.breaks:
            console.print(f"[red]position {b.position}: {b.kind}[/] — {escape(said(b.detail))}")
        console.print(
            "[green]verified: the chain up to the certificate is intact[/]"
            if report.ok
            else "[red]NOT verified: the chain is broken[/]"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def selection(
    cohort: str,
    what_if: Annotated[Path | None, typer.Option(help="A programme template (JSON or YAML) to try instead")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Re-run the recorded selection from the events alone; with --what-if, under another rule. Nothing is recorded
    but the query itself. Exit 1 when a replay (not a what-if) differs from the record."""
    import yaml

    from cohortflow.audit.journal import record_query
    from cohortflow.audit.selection_replay import replay_selection
    from cohortflow.domain.programme import parse_programme

    async def work(store: EventStore) -> Any:
        programme = None
        if what_if is not None:
            try:
                programme = parse_programme(yaml.safe_load(what_if.read_text(encoding="utf-8")))
            except (OSError, yaml.YAMLError) as exc:
                raise Refused(f"cannot read {what_if}: {exc}") from None
        result = await replay_selection(store, cohort, programme)
        outcome = "identical" if result.identical else f"{len(result.changes)} changes"
        await record_query(store, actor, "selection", {"cohort": cohort, "what_if": str(what_if or "")}, outcome)
        return result

    result = _run(work)
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        label = f"what-if (rule v{result.rule_version_replayed})" if result.what_if else "replay"
        console.print(f"cohort {cohort}: decision at position {result.decision_position}, {label}")
        console.print(f"input digest recorded {result.input_digest_recorded}")
        console.print(f"             replayed {result.input_digest_replayed}")
        if result.changes:
            table = Table(title=f"{len(result.changes)} participants would change")
            for column in ("participant", "prefecture", "recorded", "replayed", "hours", "why"):
                table.add_column(column)
            for c in result.changes:
                table.add_row(c.participant_id, c.prefecture_code, c.recorded, c.replayed, f"{c.hours:g}", c.why)
            print_table(console, table)
        console.print("[green]identical to the record[/]" if result.identical else "[yellow]differs from the record[/]")
    if not result.identical and not result.what_if:
        raise typer.Exit(1)


@app.command("as-of")
def as_of(
    cohort: str,
    at: Annotated[str, typer.Option(help="ISO date and time with zone, e.g. 2024-05-01T12:00:00+08:00")],
    participant: Annotated[str | None, typer.Option(help="One participant instead of the whole cohort")] = None,
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """The state of a cohort or a participant as the history stood at a past moment, and the events behind it."""
    from cohortflow.audit.as_of import participant_as_of
    from cohortflow.audit.journal import record_query
    from cohortflow.readmodels.cohort_summary import cohort_summary

    async def work(store: EventStore) -> Any:
        moment = _moment(at)
        if participant is None:
            state: Any = await cohort_summary(store, cohort, as_of=moment)
        else:
            state = await participant_as_of(store, cohort, participant, moment)
        await record_query(store, actor, "as-of", {"cohort": cohort, "participant": participant or "", "at": at}, "ok")
        return state

    _print_json(_run(work).model_dump(mode="json"))


@app.command()
def history(
    cohort: str,
    out: Annotated[Path, typer.Option(help="Folder for the JSON histories")],
    actor: Actor = DEFAULT_ACTOR,
) -> None:
    """Export the cohort's Temporal workflow histories (every run, every site) to files."""
    from temporalio.service import RPCError

    from cohortflow.audit.histories import cohort_histories, write_histories
    from cohortflow.audit.journal import record_query
    from cohortflow.domain.programme import Programme
    from cohortflow.settings import Settings
    from cohortflow.worker import connect_client

    settings = Settings()
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"

    async def work(store: EventStore) -> list[Path]:
        started = [e async for e in store.read_stream(cohort_stream(cohort), types=["CohortStarted"])]
        if not started:
            raise Refused(f"cohort {cohort} does not exist")
        programme = Programme.model_validate(started[0].data["programme"])
        try:
            client = await connect_client(address, settings.temporal_namespace)
            histories = await cohort_histories(client, cohort, programme)
        except RPCError as exc:
            raise Refused(f"Temporal at {address} cannot give the histories: {exc}") from None
        paths = write_histories(histories, out, cohort)
        await record_query(store, actor, "history", {"cohort": cohort, "out": str(out)}, f"{len(paths)} histories")
        return paths

    for path in _run(work):
        console.print(str(path))


@app.command("replay-history")
def replay_history(folder: Path) -> None:
    """Replay exported histories against the current workflow code. Exit 1 if any disagrees."""
    import asyncio

    from cohortflow.audit.histories import read_histories, replay_histories

    try:
        histories = read_histories(folder)
    except LookupError as exc:
        err.print(f"[red]{escape(said(str(exc)))}[/]")
        raise typer.Exit(2) from None
    outcomes = asyncio.run(replay_histories(histories))
    for o in outcomes:
        verdict = "[green]agrees[/]" if o.agrees else f"[red]DISAGREES[/]: {o.problem}"
        console.print(f"{o.workflow_id} run {o.run_id}: {verdict}")
    if not all(o.agrees for o in outcomes):
        raise typer.Exit(1)
