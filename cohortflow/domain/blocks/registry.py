"""Every block kind, registered once: the template's ``stages`` accept exactly these."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.blocks.enrolment import Enrolment
from cohortflow.domain.blocks.evaluation import Evaluation
from cohortflow.domain.blocks.follow_up import FollowUp
from cohortflow.domain.blocks.online_study import OnlineStudy
from cohortflow.domain.blocks.placement import Placement
from cohortflow.domain.blocks.residential_study import ResidentialStudy
from cohortflow.domain.blocks.return_to_post import ReturnToPost
from cohortflow.domain.blocks.selection import Selection

Block = Annotated[
    Enrolment
    | OnlineStudy
    | Selection
    | ResidentialStudy
    | Placement
    | ReturnToPost
    | Evaluation
    | FollowUp
    | Completion,
    Field(discriminator="kind"),
]
