"""`cohortflow token ...` against the test database, as an operator runs it."""

from __future__ import annotations

import getpass

import psycopg
import pytest
from typer.testing import CliRunner, Result

from cohortflow.cli.tokens import app


@pytest.fixture
def run(database_url: str) -> CliRunner:
    # A wide terminal, so that rich does not wrap the table cells the tests look for.
    return CliRunner(env={"DATABASE_URL": database_url, "COLUMNS": "200"})


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def rows(database_url: str) -> list[tuple[str, str | None, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT token_id, prefecture, revoked_by FROM access_tokens").fetchall()


def test_issue_list_revoke(run: CliRunner, database_url: str) -> None:
    issued = invoke(run, "issue", "--name", "Li Wei", "--role", "coordinator", "--prefecture", "430100")
    assert issued.exit_code == 0, issued.output
    secret = issued.stdout.strip()
    assert secret.startswith("cf_") and "\n" not in secret  # the secret alone on stdout, for scripts
    assert "cannot be shown again" in issued.stderr
    [(token_id, prefecture, revoked_by)] = rows(database_url)
    assert secret.startswith(f"cf_{token_id}_") and prefecture == "430100" and revoked_by is None
    assert f"issued token {token_id} to coordinator 'Li Wei' of prefecture 430100" in issued.stderr

    listed = invoke(run, "list")
    assert listed.exit_code == 0, listed.output
    assert token_id in listed.stdout and "Li Wei" in listed.stdout and "430100" in listed.stdout
    assert f"cli:{getpass.getuser()}" in listed.stdout
    assert secret not in listed.output

    revoked = invoke(run, "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked token {token_id}" in revoked.stdout
    assert rows(database_url) == [(token_id, "430100", f"cli:{getpass.getuser()}")]
    assert "1 token(s), 0 active" in invoke(run, "list").stdout


def test_an_empty_list_says_so(run: CliRunner) -> None:
    listed = invoke(run, "list")
    assert listed.exit_code == 0 and "no tokens issued yet" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["issue", "--name", "x", "--role", "root"], "unknown role 'root'"),
        (["issue", "--name", "x", "--role", "coordinator"], "needs the six-digit code of its prefecture"),
        (["issue", "--name", "x", "--role", "admin", "--prefecture", "430100"], "only coordinators are bound"),
        (["revoke", "nope"], "token nope does not exist"),
    ],
)
def test_refusals_exit_2_and_write_nothing(run: CliRunner, database_url: str, args: list[str], message: str) -> None:
    refused = invoke(run, *args)
    assert refused.exit_code == 2
    assert message in refused.stderr and refused.stdout == ""
    assert rows(database_url) == []


def test_revoking_twice_is_refused(run: CliRunner) -> None:
    secret = invoke(run, "issue", "--name", "svc", "--role", "reminder").stdout.strip()
    token_id = secret.split("_")[1]  # the secret names its token, so an operator can revoke by it
    assert invoke(run, "revoke", token_id).exit_code == 0
    again = invoke(run, "revoke", token_id)
    assert again.exit_code == 2 and "already revoked" in again.stderr
