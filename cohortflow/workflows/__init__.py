"""Deterministic Temporal workflows: the cohort cycle, its field-study sites, coordinators' digests."""

from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from cohortflow.workflows.digests import CoordinatorDigestWorkflow
from cohortflow.workflows.field_study_site import FieldStudySiteWorkflow

WORKFLOWS: list[type] = [CohortCycleWorkflow, FieldStudySiteWorkflow, CoordinatorDigestWorkflow]
