"""What every cohort activity shares: the store, the pinned programme, the facts.

Activities append through :meth:`CohortActivities.append`, whose idempotency key
is the workflow id plus the business step, so a retried activity (or one re-run
after a worker crash) appends nothing twice. Domain refusals become
non-retryable ``ApplicationError``s naming the problem; infrastructure errors
propagate and are retried by Temporal.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict
from temporalio import activity
from temporalio.exceptions import ApplicationError

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.corrections import CorrectionRefused
from cohortflow.domain.credit_bank.registry import BankRefused
from cohortflow.domain.credit_bank.review import ReviewRefused
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import Event, Metadata
from cohortflow.domain.facts import FACT_TYPES, CohortFacts
from cohortflow.domain.nomination import InvalidRecords
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme, ProgrammeInvalid
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate
from cohortflow.readmodels.cohort_facts import pinned_template
from cohortflow.store.errors import StoreError
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import AppendResult, NewEvent


class NotStarted(CommandRefused):
    """The cohort has recorded no start (yet): a command for it is refused."""


DOMAIN_ERRORS = (
    BankRefused,
    CommandRefused,
    CorrectionRefused,
    InvalidRecords,
    ProgrammeInvalid,
    ReviewRefused,
    StoreError,
)

P = ParamSpec("P")
R = TypeVar("R")


class CohortRef(BaseModel):
    """Which cohort an activity works on, and on whose behalf."""

    model_config = ConfigDict(frozen=True)

    cohort_id: str
    workflow_id: str
    """The cohort workflow's id: stable across continue-as-new, so it keys idempotency."""
    actor: str = "system:cohort-cycle"

    @property
    def stream_id(self) -> str:
        return cohort_stream(self.cohort_id)


def refusals_are_final(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn domain refusals into non-retryable errors: retrying cannot fix bad data."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except DOMAIN_ERRORS as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc

    return wrapper


class CohortActivities:
    def __init__(self, store: EventStore, uploads: Path | None = None) -> None:
        self.store = store
        self._uploads = uploads
        self._programmes: dict[str, AnyTemplate] = {}

    @property
    def uploads(self) -> Path:
        """Where the API leaves uploaded files, named by their content digest."""
        if self._uploads is None:
            raise RuntimeError("this worker was started without an uploads directory")
        return self._uploads

    def log(self, ref: CohortRef) -> structlog.stdlib.BoundLogger:
        info = activity.info()
        return structlog.get_logger().bind(  # type: ignore[no-any-return]
            cohort_id=ref.cohort_id, workflow_id=ref.workflow_id, activity=info.activity_type
        )

    async def pinned(self, ref: CohortRef) -> AnyTemplate:
        """The programme version the cohort was started (and is pinned) under, of either form."""
        cached = self._programmes.get(ref.cohort_id)
        if cached is not None:
            return cached
        try:
            programme = await pinned_template(self.store, ref.cohort_id)
        except LookupError:
            raise NotStarted(phrase("cohort {cohort_id} has not been started", cohort_id=ref.cohort_id)) from None
        self._programmes[ref.cohort_id] = programme
        return programme

    async def programme(self, ref: CohortRef) -> Programme:
        """The seven-phase programme the cohort runs."""
        programme = await self.pinned(ref)
        if not isinstance(programme, Programme):
            raise CommandRefused(
                phrase("cohort {cohort_id} runs a block template, not the seven-phase form", cohort_id=ref.cohort_id)
            )
        return programme

    async def template(self, ref: CohortRef) -> ProgrammeTemplate:
        """The block template the cohort runs."""
        programme = await self.pinned(ref)
        if not isinstance(programme, ProgrammeTemplate):
            raise CommandRefused(
                phrase("cohort {cohort_id} runs the seven-phase form, not a block template", cohort_id=ref.cohort_id)
            )
        return programme

    async def facts(self, ref: CohortRef) -> CohortFacts:
        facts = CohortFacts()
        async for event in self.store.read_payloads(ref.stream_id, FACT_TYPES):
            facts.apply(event)  # folded as it streams: a 50,000-person cohort is never all in memory
            if facts.event_count % 5_000 == 0:
                activity.heartbeat(facts.event_count)
        return facts

    async def decide_once(
        self,
        ref: CohortRef,
        step: str,
        decide: Callable[[], Awaitable[Sequence[Event]]],
        *,
        programme: AnyTemplate,
        expected_version: int | None = None,
    ) -> list[Event]:
        """Record what ``decide`` returns as business step ``step``, exactly once.

        If an earlier attempt already recorded the step (its completion was lost
        to a crash or a timeout), return what it recorded instead of deciding
        again: the facts have moved on since, so a second decision could differ.
        """
        recorded = await self.store.recorded(f"{ref.workflow_id}/{step}")
        if recorded is not None:
            self.log(ref).info("step already recorded", step=step, count=len(recorded))
            return [decode(e.type, e.schema_version, e.data) for e in recorded]
        events = list(await decide())
        if events:
            await self.append(ref, step, events, programme=programme, expected_version=expected_version)
        return events

    @staticmethod
    def metadata(ref: CohortRef, step: str, programme: AnyTemplate) -> dict[str, object]:
        return Metadata(
            actor=ref.actor,
            workflow_id=ref.workflow_id,
            programme_id=programme.id,
            programme_version=programme.version,
            step=step,
            correlation_id=ref.cohort_id,
        ).model_dump()

    async def append(
        self,
        ref: CohortRef,
        step: str,
        events: Iterable[Event],
        *,
        programme: AnyTemplate,
        expected_version: int | None = None,
        count: int | None = None,
    ) -> AppendResult:
        """Append as business step ``step``; a generator of events needs its ``count`` (see EventStore.append)."""
        metadata = self.metadata(ref, step, programme)
        if count is None:
            events = list(events)
            count = len(events)
        result = await self.store.append(
            ref.stream_id,
            (NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events),
            count=count,
            idempotency_key=f"{ref.workflow_id}/{step}",
            expected_version=expected_version,
            on_progress=activity.heartbeat,
        )
        self.log(ref).info(
            "events appended", step=step, count=result.count, duplicate=result.duplicate, last=result.last_position
        )
        return result
