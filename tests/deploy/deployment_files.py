"""What the deployment files under deploy/ set and run: environment settings and command lines, with where.

Read with the libraries that read these formats (PyYAML for Compose and Kubernetes,
``dockerfile``, a binding of Docker's own parser, for the Dockerfile), so a file is
seen as Docker and Kubernetes would see it: YAML anchors and merge keys resolved,
line continuations joined.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dockerfile
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"

# Compose's `${VAR:-default}` / `${VAR-default}`: a value checked as its default. Compose's own
# interpolation is not available as a Python library; this form is the only one the files use with a default.
_WITH_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
_INTERPOLATED = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]")


@dataclass(frozen=True)
class Setting:
    """An environment variable a deployment file gives a cohortflow process."""

    file: Path
    where: str
    """Which service, container, ConfigMap or instruction of the file sets it."""
    key: str
    value: str | None
    """As the process would see it (a Compose default substituted); None when only the operator's shell says."""


@dataclass(frozen=True)
class CommandLine:
    """A command line a deployment file runs in a cohortflow container."""

    file: Path
    where: str
    argv: tuple[str, ...]


def _value(raw: object) -> str | None:
    if raw is None:
        return None
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    text = _WITH_DEFAULT.sub(lambda m: m.group(1), text)
    return None if _INTERPOLATED.search(text) else text


def _yaml_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# Compose


def _cohortflow_services(path: Path) -> dict[str, dict[str, Any]]:
    """The services that run the cohortflow image (built from deploy/Dockerfile)."""
    (compose,) = _yaml_documents(path)
    services: dict[str, dict[str, Any]] = compose.get("services", {})
    return {
        name: service
        for name, service in services.items()
        if "build" in service or str(service.get("image", "")).startswith("cohortflow")
    }


def compose_settings(path: Path = COMPOSE) -> list[Setting]:
    found = []
    for name, service in _cohortflow_services(path).items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):  # the `- KEY=value` form
            environment = dict(item.partition("=")[::2] if "=" in item else (item, None) for item in environment)
        found += [Setting(path, f"service {name}", key, _value(raw)) for key, raw in environment.items()]
    return found


def compose_commands(path: Path = COMPOSE) -> list[CommandLine]:
    found = []
    for name, service in _cohortflow_services(path).items():
        command = service.get("command")
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else command
            found.append(CommandLine(path, f"service {name}", tuple(str(a) for a in argv)))
    return found


# Kubernetes


def kubernetes_documents(directory: Path = KUBERNETES) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(directory.glob("*.yaml")) for doc in _yaml_documents(path)]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _is_cohortflow(container: dict[str, Any]) -> bool:
    return "cohortflow" in str(container.get("image", "")).rsplit("/", 1)[-1]


def kubernetes_settings(directory: Path = KUBERNETES) -> list[Setting]:
    """Keys of every ConfigMap and Secret (the pods take them whole, with envFrom) and cohortflow containers' env."""
    found = []
    for path, doc in kubernetes_documents(directory):
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind in ("ConfigMap", "Secret"):
            for section in ("data", "stringData"):
                found += [
                    Setting(path, f"{kind} {name}", key, None if section == "data" and kind == "Secret" else str(value))
                    for key, value in (doc.get(section) or {}).items()
                ]
        for container in filter(_is_cohortflow, _containers(doc)):
            where = f"{kind} {name} container {container.get('name')}"
            found += [Setting(path, where, env["name"], env.get("value")) for env in container.get("env", [])]
    return found


def kubernetes_commands(directory: Path = KUBERNETES) -> list[CommandLine]:
    found = []
    for path, doc in kubernetes_documents(directory):
        for container in filter(_is_cohortflow, _containers(doc)):
            argv = [*container.get("command", []), *container.get("args", [])]
            if argv:
                where = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')} container {container.get('name')}"
                found.append(CommandLine(path, where, tuple(str(a) for a in argv)))
    return found


# Dockerfile


def _final_stage(path: Path) -> list[dockerfile.Command]:
    instructions = dockerfile.parse_file(str(path))
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.cmd == "FROM")
    return list(instructions[last_from:])


def dockerfile_settings(path: Path = DOCKERFILE) -> list[Setting]:
    """ENV of the image's final stage (the one that runs)."""
    found = []
    for instruction in _final_stage(path):
        if instruction.cmd == "ENV":
            pairs = instruction.value
            found += [
                Setting(path, f"ENV on line {instruction.start_line}", key, _value(value))
                for key, value in zip(pairs[::2], pairs[1::2], strict=True)
            ]
    return found


def dockerfile_commands(path: Path = DOCKERFILE) -> list[CommandLine]:
    """The final stage's default command (what follows the ENTRYPOINT, tini)."""
    return [
        CommandLine(path, f"CMD on line {instruction.start_line}", tuple(instruction.value))
        for instruction in _final_stage(path)
        if instruction.cmd == "CMD"
    ]


# Documentation

_FENCE = re.compile(r"^[ \t]*```[a-z]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)  # indented too: in lists
_SHELL_END = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1"}


def documented_commands(path: Path, compose: Path = COMPOSE) -> list[CommandLine]:
    """cohortflow commands a document's code blocks run in a container: `docker compose ... run --rm
    SERVICE cohortflow ...` (SERVICE one of the Compose file's) or `kubectl exec ... -- cohortflow ...`."""
    (services,) = (doc.get("services", {}) for doc in _yaml_documents(compose))
    text = path.read_text(encoding="utf-8")
    found = []
    for block in _FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            words = shlex.split(line, comments=True)
            if words[:1] not in (["docker"], ["kubectl"]):
                continue
            starts = [
                i
                for i, w in enumerate(words)
                if w == "cohortflow" and i and (words[i - 1] in services or words[i - 1] == "--")
            ]
            if starts:
                argv = words[starts[0] :]
                end = min((i for i, word in enumerate(argv) if word in _SHELL_END), default=len(argv))
                found.append(CommandLine(path, f"line {first_line + offset}", tuple(argv[:end])))
    return found
