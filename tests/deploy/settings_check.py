"""The settings the deployment files set, against the settings the code reads (cohortflow.settings.Settings)."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from unittest import mock

from pydantic import AliasChoices, ValidationError

from cohortflow.settings import Settings
from tests.deploy.deployment_files import Setting

# Variables of these names are cohortflow's; any other (PATH, PYTHONUTF8 ...) belongs to something else.
_PREFIX = str(Settings.model_config.get("env_prefix", ""))


def _env_names() -> dict[str, str]:
    """Every environment variable Settings reads (upper case: it reads them case-insensitively), to its field."""
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper(): field_name for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names[alias.upper()] = field_name
        else:
            names[(_PREFIX + field_name).upper()] = field_name
    return names


ENV_NAMES = _env_names()


def is_cohortflows(key: str) -> bool:
    return key.upper().startswith(_PREFIX.upper()) or key.upper() in ENV_NAMES


def _read_as_the_processes_would(values: dict[str, str]) -> list[tuple[str, str]]:
    """(variable, reason) for each value Settings refuses, read from exactly these variables."""
    with mock.patch.dict(os.environ, values, clear=True):
        try:
            Settings()
        except ValidationError as invalid:
            by_field = {field: name for name, field in ENV_NAMES.items() if name in values}
            return [
                (by_field.get(str(error["loc"][0]), str(error["loc"][0])), error["msg"]) for error in invalid.errors()
            ]
    return []


def settings_problems(settings: list[Setting]) -> list[str]:
    """One line per problem, naming the file, where in it, and the variable."""
    problems = []
    groups: dict[tuple[Path, str], dict[str, str]] = defaultdict(dict)
    for s in settings:
        if not is_cohortflows(s.key):
            continue
        if s.key.upper() not in ENV_NAMES:
            problems.append(f"{s.file}: {s.where}: {s.key} is not a setting cohortflow reads")
        elif s.value is not None:
            groups[(s.file, s.where)][s.key] = s.value
    for (file, where), values in groups.items():
        problems += [f"{file}: {where}: {key}: {reason}" for key, reason in _read_as_the_processes_would(values)]
    return problems
