"""A cohort's facts folded from its own stream, for reads the rm_ tables do not answer (block records)."""

from __future__ import annotations

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.events import CohortStarted
from cohortflow.domain.facts import FACT_TYPES, CohortFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.template import AnyTemplate, pinned
from cohortflow.store.eventstore import EventStore


async def cohort_facts(store: EventStore, cohort_id: str) -> CohortFacts:
    facts = CohortFacts()
    async for event in store.read_payloads(cohort_stream(cohort_id), FACT_TYPES):
        facts.apply(event)
    return facts


async def pinned_template(store: EventStore, cohort_id: str) -> AnyTemplate:
    """The template the cohort runs; LookupError if there is no such cohort."""
    start = await store.first_event(cohort_stream(cohort_id))
    if start is None or start.type != CohortStarted.TYPE:
        raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
    data = start.data["programme"]
    return pinned(data)
