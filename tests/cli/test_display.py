"""How CLI tables come out when they are not read at a terminal: whole, and in the programmes' time zone.

Through `cohortflow token list` on a real database (the admin commands' tables,
through the real API, are in tests/cli/test_admin.py).
"""

from __future__ import annotations

import re

from typer.testing import CliRunner

from cohortflow.cli.main import app

LONG_NAME = "上海市教育委员会教师发展中心" + "-数据同步服务" * 12  # 98 characters, nearly 200 columns wide


def test_a_table_piped_elsewhere_is_not_cut_and_shows_local_time(database_url: str) -> None:
    runner = CliRunner(env={"DATABASE_URL": database_url, "COLUMNS": None})
    issued = runner.invoke(app, ["token", "issue", "--name", LONG_NAME, "--role", "auditor"])
    assert issued.exit_code == 0, issued.output
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0, listed.output
    assert LONG_NAME in listed.stdout  # on one line, neither wrapped nor cut with an ellipsis
    assert "…" not in listed.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", listed.stdout), listed.stdout
