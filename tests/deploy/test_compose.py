"""deploy/compose.yaml: valid Compose, real settings and commands, uploads shared by the API and the workers."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.command_check import command_problems
from tests.deploy.deployment_files import COMPOSE, compose_commands, compose_settings
from tests.deploy.settings_check import settings_problems
from tests.deploy.shared_uploads import compose_problems

# The Compose specification's schema (https://github.com/compose-spec/compose-spec, Apache-2.0),
# as check-jsonschema vendors it (its `--builtin-schema vendor.compose-spec`).
SCHEMA = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text("utf-8"))


def schema_problems(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        document = yaml.safe_load(f)
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    return [f"{path}: {error.json_path}: {error.message}" for error in validator.iter_errors(document)]


def broken_copy(tmp_path: Path, change: Any) -> Path:
    """A copy of the Compose file with ``change`` applied to its parsed form."""
    with COMPOSE.open(encoding="utf-8") as f:
        document = yaml.safe_load(f)
    change(document)
    copy = tmp_path / "compose.yaml"
    copy.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return copy


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert schema_problems(COMPOSE) == []


def test_a_misspelt_service_key_is_reported_with_its_place(tmp_path: Path) -> None:
    def misspell(document: dict[str, Any]) -> None:
        document["services"]["worker"]["enviroment"] = document["services"]["worker"].pop("environment")

    problems = schema_problems(broken_copy(tmp_path, misspell))

    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'compose.yaml'}: $.services.worker: ")
    assert "'enviroment' was unexpected" in problems[0]


def test_every_setting_the_compose_file_gives_cohortflow_is_one_it_reads() -> None:
    settings = compose_settings()

    assert {s.key for s in settings} >= {"DATABASE_URL", "TEMPORAL_ADDRESS", "COHORTFLOW_SMTP_HOST"}
    assert settings_problems(settings) == []


def test_an_unknown_or_unreadable_setting_is_reported_with_file_service_and_key(tmp_path: Path) -> None:
    def mistype(document: dict[str, Any]) -> None:
        dispatcher = document["services"]["dispatcher"]["environment"]
        dispatcher["COHORTFLOW_SMTP_HOTS"] = dispatcher.pop("COHORTFLOW_SMTP_HOST")
        dispatcher["COHORTFLOW_SMTP_PORT"] = "smtp"

    copy = broken_copy(tmp_path, mistype)

    assert settings_problems(compose_settings(copy)) == [
        f"{copy}: service dispatcher: COHORTFLOW_SMTP_HOTS is not a setting cohortflow reads",
        f"{copy}: service dispatcher: COHORTFLOW_SMTP_PORT: Input should be a valid integer, "
        "unable to parse string as an integer",
    ]


def test_every_command_the_compose_file_runs_is_a_real_cli_command() -> None:
    commands = compose_commands()

    assert {line.argv[:3] for line in commands} >= {
        ("cohortflow", "migrate"),
        ("cohortflow", "worker"),
        ("cohortflow", "api", "--host"),
        ("cohortflow", "reminder", "dispatch"),
    }
    assert command_problems(commands) == []


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["cohortflow", "reminders", "dispatch"], "`cohortflow` has no command 'reminders'"),
        (["cohortflow", "api", "--bind", "0.0.0.0"], "`cohortflow api`: No such option: --bind"),
    ],
)
def test_a_command_the_cli_lacks_is_reported_with_file_and_service(
    tmp_path: Path, command: list[str], reason: str
) -> None:
    copy = broken_copy(tmp_path, lambda document: document["services"]["api"].update(command=command))

    problems = command_problems(compose_commands(copy))

    assert len(problems) == 1
    assert problems[0].startswith(f"{copy}: service api: {' '.join(command)}: {reason}")


def test_the_api_and_the_workers_share_the_uploads_volume() -> None:
    assert compose_problems(COMPOSE) == []


def test_a_worker_without_the_uploads_volume_is_reported(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, lambda document: document["services"]["worker"].pop("volumes"))

    assert compose_problems(copy) == [
        f"{copy}: service worker: no named volume mounted at COHORTFLOW_UPLOADS_DIR (/var/lib/cohortflow/uploads)"
    ]


def test_the_migrations_run_once_before_every_cohortflow_process() -> None:
    with COMPOSE.open(encoding="utf-8") as f:
        services = yaml.safe_load(f)["services"]

    for name in ("worker", "api", "dispatcher"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["temporal"]["depends_on"]["temporal-schema"] == {"condition": "service_completed_successfully"}
    assert "auto-setup" not in json.dumps(services)
