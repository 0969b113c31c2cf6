"""Deterministic Temporal workflows: the cohort cycle, its field-study sites, coordinators' digests, rotation plans."""

from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from cohortflow.workflows.digests import CoordinatorDigestWorkflow
from cohortflow.workflows.field_study_site import FieldStudySiteWorkflow
from cohortflow.workflows.rotation_plan import RotationPlanWorkflow

WORKFLOWS: list[type] = [CohortCycleWorkflow, FieldStudySiteWorkflow, CoordinatorDigestWorkflow, RotationPlanWorkflow]
