"""`cohortflow backup` and `cohortflow restore`: the whole store to one file and back, verified."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from cohortflow.cli.messages import said

if TYPE_CHECKING:
    from cohortflow.audit.verify import ChainReport, ExportedDigest

console = Console()
err = Console(stderr=True)


class ChainBroken(Exception):
    """The restored store does not verify (against the digest, when one was given)."""

    def __init__(self, report: ChainReport, *, in_place: bool) -> None:
        super().__init__(f"{len(report.breaks)} break(s)")
        self.report = report
        self.in_place = in_place
        """Whether the broken store was loaded into the target itself (an empty one) or only beside it."""


def backup(
    out: Annotated[Path, typer.Argument(help="The file to write (PostgreSQL custom format)", show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the file if it exists")] = False,
) -> None:
    """Write the whole store (events, identity, read models, tokens, outbox) to one file with pg_dump.

    The service may keep running: the dump is one consistent snapshot, and the head it holds is printed.

    Uploaded files and Temporal's state are not in it: see docs/operations.md."""
    from cohortflow.cli.store import database
    from cohortflow.runtime.backup import backup_store, replacing

    with _reported():
        with replacing(out, overwrite=overwrite) as partial, database("any") as url:
            head = backup_store(url, partial)
        size = out.stat().st_size
    console.print(
        f"store {head.store_id}, {_events(head.position)}, head position {head.position} "
        f"(sha256 {head.hash or '-'}): written to {escape(str(out))} ({size:,} bytes)",
        highlight=False,
        soft_wrap=True,
    )


def restore(
    dump: Annotated[Path, typer.Argument(help="A file written by `cohortflow backup`", show_default=False)],
    digest_file: Annotated[
        Path | None,
        typer.Option("--digest", help="A digest exported before the backup; the restored store must verify against it"),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the store the database holds (kept under another name)")
    ] = False,
) -> None:
    """Restore a backup into DATABASE_URL (or the embedded store) and verify its hash chain.

    The database must be empty; with --replace the backup is verified in a new database, then swapped in.

    The replaced store is kept under another name; nothing is swapped if the load or the check fails.

    Exit code 2 on bad input (nothing changed), 1 if the restored chain is not intact."""
    from cohortflow.runtime.backup import check_dump_file, plan_restore, restore_into_empty, restore_replacing

    expected = _load_digest(digest_file)
    reports: list[ChainReport] = []
    kept: str | None = None
    with _reported():
        check_dump_file(dump)  # before a server is started for nothing
        with _target() as url:
            plan = plan_restore(url, dump)
            if expected is not None and expected.store_id != plan.store_id:
                _refuse(f"the digest was exported from store {expected.store_id}; {dump} holds store {plan.store_id}")
            swap = replace and plan.holds is not None
            check = _checker(expected, reports, in_place=not swap)
            if swap:
                kept = restore_replacing(plan, check)
            else:
                restore_into_empty(plan, check)
    report = reports[-1]
    against = f"; it verifies against the digest {escape(str(digest_file))}" if digest_file else ""
    console.print(
        f"restored store {report.store_id} from {escape(str(dump))}: {_events(report.checked)}, "
        f"head position {report.head_position}, chain [green]intact[/]{against}",
        highlight=False,
        soft_wrap=True,
    )
    if kept is not None:
        console.print(
            f"the store it replaced is kept as database {kept}; drop it once you have checked the restore",
            highlight=False,
            soft_wrap=True,
        )


def _events(count: int) -> str:
    return f"{count:,} event" + ("" if count == 1 else "s")


def _checker(expected: ExportedDigest | None, reports: list[ChainReport], *, in_place: bool) -> Callable[[str], None]:
    """Verifies a restored database, keeps the report, and raises ``ChainBroken`` if it is not intact."""

    def check(conninfo: str) -> None:
        report = _verify(conninfo, expected)
        reports.append(report)
        if not report.ok:
            raise ChainBroken(report, in_place=in_place)

    return check


@contextmanager
def _target() -> Iterator[str]:
    """DATABASE_URL, or the embedded store's database as it is: not migrated, so a new one stays empty."""
    from cohortflow.cli.state_dir import usable_state_dir
    from cohortflow.runtime.postgres import embedded_database
    from cohortflow.settings import Settings

    settings = Settings()
    if settings.database_url is not None:
        yield settings.database_url
        return
    with embedded_database(usable_state_dir(settings.state_dir).resolve() / "postgres") as url:
        yield url


def _verify(conninfo: str, expected: ExportedDigest | None) -> ChainReport:
    import asyncio

    from cohortflow.audit.verify import verify_store
    from cohortflow.store.eventstore import EventStore

    async def run() -> ChainReport:
        # Checked without recording the verification: the restored history stays exactly the backup's.
        store = await EventStore.connect(conninfo, max_size=1)
        try:
            return await verify_store(store, expected)
        finally:
            await store.close()

    return asyncio.run(run())


def _load_digest(path: Path | None) -> ExportedDigest | None:
    from pydantic import ValidationError

    from cohortflow.audit.verify import ExportedDigest

    if path is None:
        return None
    try:
        return ExportedDigest.model_validate_json(path.read_bytes())
    except OSError as exc:
        _refuse(f"cannot read the digest {path}: {exc.strerror or exc}")
    except ValidationError:
        _refuse(f"{path} is not a digest exported by `cohortflow audit digest`")


def _refuse(message: str) -> NoReturn:
    err.print(f"[red]{escape(message)}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _reported() -> Iterator[None]:
    """Refusals exit 2 and failures exit 1, each as one message rather than a traceback."""
    import psycopg

    from cohortflow.runtime.backup import BackupFailed, BackupRefused

    try:
        yield
    except BackupRefused as exc:
        _refuse(said(str(exc)))
    except (BackupFailed, psycopg.Error) as exc:
        err.print(f"[red]{escape(str(exc).strip())}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except ChainBroken as exc:
        for b in exc.report.breaks:
            err.print(f"[red]position {b.position}: {b.kind}[/] — {escape(said(b.detail))}", highlight=False)
        where = "it stays in the database, as the backup holds it" if exc.in_place else "nothing was replaced"
        err.print(f"[red]the restored store is NOT intact[/]; {where}", highlight=False)
        raise typer.Exit(1) from None
