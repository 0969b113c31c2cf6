"""Every API and worker process must see the same uploads directory: the API saves an import's file
there and a worker reads it. Without a shared volume mounted there, every import fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deployment_files import DOCKERFILE, dockerfile_settings, kubernetes_documents

SHARING = ("api", "worker")
"""The cohortflow commands that read or write uploaded files."""


def _image_uploads_dir(dockerfile: Path) -> str | None:
    found = [s.value for s in dockerfile_settings(dockerfile) if s.key == "COHORTFLOW_UPLOADS_DIR"]
    return found[-1] if found else None


def _runs(argv: list[Any]) -> str | None:
    words = [str(word) for word in argv]
    return words[1] if len(words) > 1 and words[0] == "cohortflow" and words[1] in SHARING else None


def compose_problems(compose: Path, dockerfile: Path = DOCKERFILE) -> list[str]:
    with compose.open(encoding="utf-8") as f:
        document = yaml.safe_load(f)
    named_volumes = set(document.get("volumes") or {})
    problems = []
    for name, service in document.get("services", {}).items():
        command = service.get("command") or []
        if _runs(command.split() if isinstance(command, str) else command) is None:
            continue
        uploads = (service.get("environment") or {}).get("COHORTFLOW_UPLOADS_DIR") or _image_uploads_dir(dockerfile)
        mounted = {
            target: source
            for source, target, *_ in (str(v).split(":") for v in service.get("volumes", []) if ":" in str(v))
        }
        if uploads not in mounted or mounted[uploads] not in named_volumes:
            problems.append(f"{compose}: service {name}: no named volume mounted at COHORTFLOW_UPLOADS_DIR ({uploads})")
    return problems


def kubernetes_problems(directory: Path, dockerfile: Path = DOCKERFILE) -> list[str]:
    documents = kubernetes_documents(directory)
    shared_claims = {
        doc["metadata"]["name"]
        for _, doc in documents
        if doc.get("kind") == "PersistentVolumeClaim" and "ReadWriteMany" in doc.get("spec", {}).get("accessModes", [])
    }
    settings = {
        key: str(value)
        for _, doc in documents
        if doc.get("kind") in ("ConfigMap", "Secret")
        for key, value in {**(doc.get("data") or {}), **(doc.get("stringData") or {})}.items()
    }
    uploads = settings.get("COHORTFLOW_UPLOADS_DIR") or _image_uploads_dir(dockerfile)
    problems = []
    for path, doc in documents:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        claims = {
            volume["name"]: volume.get("persistentVolumeClaim", {}).get("claimName")
            for volume in pod.get("volumes", [])
        }
        for container in pod.get("containers", []):
            if _runs([*container.get("command", []), *container.get("args", [])]) is None:
                continue
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if claims.get(mounts.get(uploads or "", "")) not in shared_claims:
                problems.append(
                    f"{path}: {doc['kind']} {doc['metadata']['name']} container {container['name']}: "
                    f"no ReadWriteMany claim mounted at COHORTFLOW_UPLOADS_DIR ({uploads})"
                )
    return problems
