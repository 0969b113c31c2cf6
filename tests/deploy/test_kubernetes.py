"""deploy/kubernetes: valid against Kubernetes' schema (offline), real settings and commands, shared uploads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.command_check import command_problems
from tests.deploy.deployment_files import KUBERNETES, kubernetes_commands, kubernetes_documents, kubernetes_settings
from tests.deploy.settings_check import settings_problems
from tests.deploy.shared_uploads import kubernetes_problems

# The oldest Kubernetes release still supported upstream when these manifests were written, and the newest known.
VERSIONS = ("1.32.0", kubernetes_validate.utils.latest_version())


def schema_problems(directory: Path, version: str) -> list[str]:
    problems = []
    for path, doc in kubernetes_documents(directory):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as invalid:
            where = "." + ".".join(str(part) for part in invalid.path)
            problems.append(f"{path}: {doc.get('kind')} {doc['metadata'].get('name')}: {where}: {invalid.message}")
    return problems


def broken_copy(tmp_path: Path, file: str, change: Any) -> Path:
    """A copy of the manifests with ``change`` applied to the documents of ``file``."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    with (copy / file).open(encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))
    for doc in documents:
        change(doc)
    (copy / file).write_text(yaml.safe_dump_all(documents, allow_unicode=True), encoding="utf-8")
    return copy


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", VERSIONS)
def test_the_manifests_follow_the_kubernetes_schema(version: str) -> None:
    kinds = sorted(doc["kind"] for _, doc in kubernetes_documents())

    assert kinds == sorted(
        ["ConfigMap", "Secret", "PersistentVolumeClaim", "Job", "Deployment", "Deployment", "Service", "Deployment"]
    )
    assert schema_problems(KUBERNETES, version) == []


def test_a_misplaced_field_is_reported_with_file_resource_and_path(tmp_path: Path) -> None:
    def misplace(doc: dict[str, Any]) -> None:
        if doc["kind"] == "Deployment":
            pod(doc)["containers"][0]["replicas"] = 3

    copy = broken_copy(tmp_path, "worker.yaml", misplace)

    assert schema_problems(copy, VERSIONS[-1]) == [
        f"{copy / 'worker.yaml'}: Deployment cohortflow-worker: .spec.template.spec.containers.0: "
        "Additional properties are not allowed ('replicas' was unexpected)"
    ]


def test_every_setting_the_manifests_give_is_one_cohortflow_reads() -> None:
    settings = kubernetes_settings()

    assert {s.key for s in settings} >= {"DATABASE_URL", "TEMPORAL_ADDRESS", "COHORTFLOW_UPLOADS_DIR"}
    assert settings_problems(settings) == []


def test_an_unknown_setting_is_reported_with_file_configmap_and_key(tmp_path: Path) -> None:
    def mistype(doc: dict[str, Any]) -> None:
        doc["data"]["COHORTFLOW_TEMPORAL_ADRESS"] = doc["data"].pop("TEMPORAL_ADDRESS")

    copy = broken_copy(tmp_path, "config.yaml", mistype)

    assert settings_problems(kubernetes_settings(copy)) == [
        f"{copy / 'config.yaml'}: ConfigMap cohortflow-config: "
        "COHORTFLOW_TEMPORAL_ADRESS is not a setting cohortflow reads"
    ]


def test_every_command_the_manifests_run_is_a_real_cli_command() -> None:
    commands = kubernetes_commands()

    assert sorted(line.argv for line in commands) == [
        ("cohortflow", "api"),
        ("cohortflow", "migrate"),
        ("cohortflow", "reminder", "dispatch"),
        ("cohortflow", "worker"),
    ]
    assert command_problems(commands) == []


def test_a_command_the_cli_lacks_is_reported_with_file_and_container(tmp_path: Path) -> None:
    def rename(doc: dict[str, Any]) -> None:
        pod(doc)["containers"][0]["command"] = ["cohortflow", "migrations"]

    copy = broken_copy(tmp_path, "migrate-job.yaml", rename)

    assert command_problems(kubernetes_commands(copy)) == [
        f"{copy / 'migrate-job.yaml'}: Job cohortflow-migrate container migrate: cohortflow migrations: "
        "`cohortflow` has no command 'migrations'"
    ]


def test_the_api_and_the_workers_mount_the_shared_uploads_claim() -> None:
    assert kubernetes_problems(KUBERNETES) == []


def test_an_api_without_the_uploads_claim_is_reported(tmp_path: Path) -> None:
    def unmount(doc: dict[str, Any]) -> None:
        if doc["kind"] == "Deployment":
            pod(doc)["containers"][0].pop("volumeMounts")

    copy = broken_copy(tmp_path, "api.yaml", unmount)

    assert kubernetes_problems(copy) == [
        f"{copy / 'api.yaml'}: Deployment cohortflow-api container api: "
        "no ReadWriteMany claim mounted at COHORTFLOW_UPLOADS_DIR (/var/lib/cohortflow/uploads)"
    ]


def test_the_api_is_probed_alive_and_ready_by_its_health_routes() -> None:
    (api,) = (
        doc
        for _, doc in kubernetes_documents()
        if doc["metadata"]["name"] == "cohortflow-api" and doc["kind"] == "Deployment"
    )
    container = pod(api)["containers"][0]

    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container)
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
