"""Deterministic Temporal workflows: the cohort cycle and its field-study sites."""

from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from cohortflow.workflows.field_study_site import FieldStudySiteWorkflow

WORKFLOWS: list[type] = [CohortCycleWorkflow, FieldStudySiteWorkflow]
