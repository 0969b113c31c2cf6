"""The cohortflow commands the deployment documents tell operators to run in a container are real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.command_check import command_problems
from tests.deploy.deployment_files import DEPLOY, REPOSITORY, documented_commands

DOCUMENTS = (DEPLOY / "README.md", REPOSITORY / "docs" / "operations.md")
FIRST_ADMIN = ("cohortflow", "token", "issue", "--name", "li", "--role", "admin")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_the_documented_commands_are_real_and_include_the_first_admin(document: Path) -> None:
    commands = documented_commands(document)

    assert FIRST_ADMIN in {line.argv for line in commands}
    assert command_problems(commands) == []


def test_a_documented_command_with_a_wrong_option_is_reported_with_its_line(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    copy.write_text(
        "# Run\n\n```sh\n"
        "docker compose -f deploy/compose.yaml run --rm migrate cohortflow token issue --name li --rôle admin\n"
        "docker compose -f deploy/compose.yaml exec app-db psql -U cohortflow\n"
        "```\n",
        encoding="utf-8",
    )

    assert command_problems(documented_commands(copy)) == [
        f"{copy}: line 4: cohortflow token issue --name li --rôle admin: `cohortflow token issue`: "
        "No such option: --rôle (Possible options: --role)"
    ]
