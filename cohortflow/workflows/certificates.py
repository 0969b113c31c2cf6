"""Issuing certificates: a cohort's completion certificates (certificates-{cohort}-{request}), one batch
activity; a person's certificate for a credit cycle they have met.

A short workflow per request rather than an Update on the cohort's own: certificates are
issued long after a cohort has ended, when its workflow is closed. The activity's
idempotency keys, not the workflow id, make issuing happen once per participant, so two
requests at the same moment each get a workflow and together issue each certificate once.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cohortflow.activities.certificates import (
        CertificateActivities,
        IssueCertificates,
        IssueCycleCertificate,
        IssuedCertificates,
    )
    from cohortflow.domain.events import CertificateIssued
    from cohortflow.workflows.options import run_activity


class CertificateIssuingInput(BaseModel):
    cohort_id: str
    actor: str
    prefecture: str | None = None
    """A coordinator's prefecture: only its participants' certificates are issued."""


def issuing_workflow_id(cohort_id: str, request_id: str) -> str:
    return f"certificates-{cohort_id}-{request_id}"


@workflow.defn
class CertificateIssuingWorkflow:
    @workflow.run
    async def run(self, inp: CertificateIssuingInput) -> IssuedCertificates:
        req = IssueCertificates(
            cohort_id=inp.cohort_id, workflow_id=workflow.info().workflow_id, actor=inp.actor, prefecture=inp.prefecture
        )
        result: IssuedCertificates = await run_activity(CertificateActivities.issue_completion_certificates, req)
        return result


class CycleCertificateInput(BaseModel):
    person_key: str
    rule_id: str
    as_of: date
    actor: str


@workflow.defn
class CycleCertificateWorkflow:
    """A person's certificate for a credit cycle they have met (one activity; issued once per cycle ever)."""

    @workflow.run
    async def run(self, inp: CycleCertificateInput) -> CertificateIssued:
        req = IssueCycleCertificate(
            person_key=inp.person_key,
            rule_id=inp.rule_id,
            as_of=inp.as_of,
            workflow_id=workflow.info().workflow_id,
            actor=inp.actor,
        )
        result: CertificateIssued = await run_activity(CertificateActivities.issue_cycle_certificate, req)
        return result
