"""Deterministic Temporal workflows: the cohort cycles (seven-phase and block templates), field-study sites,
coordinators' digests, rotation plans, the credit bank and its annual reviews, certificates."""

from cohortflow.workflows.annual_review import AnnualReviewWorkflow
from cohortflow.workflows.block_cycle import BlockCycleWorkflow
from cohortflow.workflows.certificates import CertificateIssuingWorkflow, CycleCertificateWorkflow
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from cohortflow.workflows.credit_bank import CreditBankWorkflow
from cohortflow.workflows.digests import CoordinatorDigestWorkflow
from cohortflow.workflows.field_study_site import FieldStudySiteWorkflow
from cohortflow.workflows.rotation_plan import RotationPlanWorkflow

WORKFLOWS: list[type] = [
    CohortCycleWorkflow,
    BlockCycleWorkflow,
    FieldStudySiteWorkflow,
    CoordinatorDigestWorkflow,
    RotationPlanWorkflow,
    CreditBankWorkflow,
    CertificateIssuingWorkflow,
    CycleCertificateWorkflow,
    AnnualReviewWorkflow,
]
