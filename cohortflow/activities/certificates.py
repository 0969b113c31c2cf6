"""Issuing completion certificates: one ``CertificateIssued`` per participant who completed, recorded once ever.

Every certificate is appended under its own idempotency key (``certificate/{cohort}/{participant}``), all in one
transaction: issuing again, or a retried activity, records nothing twice, and issuing after more people
completed records only theirs.

The codes are drawn here, from the operating system's cryptographic source, rather than in the workflow:
``workflow.uuid4()`` comes from a seeded generator that anyone with the workflow's history can run again, and
one that is not made to resist guessing. An activity may draw anew on each attempt; the idempotency keys keep
whichever codes were committed first, and nothing but the store ever hands a code out.
"""

from __future__ import annotations

import secrets
from datetime import date

import structlog
from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.activities.heartbeats import heartbeating
from cohortflow.domain.certificate_codes import RANDOM_BYTES, new_code
from cohortflow.domain.certificates import (
    SOURCE_TYPES,
    CohortProgramme,
    Completions,
    CycleMet,
    certificate_stream,
    completion_certificate,
    cycle_certificate,
    cycle_issue_key,
    issue_key,
)
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import CertificateIssued, Metadata
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.bank import person, person_standing, shipped_requirements
from cohortflow.readmodels.cohort_facts import pinned_template
from cohortflow.readmodels.projector import Projector
from cohortflow.store.eventstore import Append, EventStore
from cohortflow.store.records import NewEvent


class IssueCertificates(BaseModel):
    cohort_id: str
    workflow_id: str
    actor: str
    prefecture: str | None = None
    """A coordinator's prefecture: only its participants' certificates are issued. None: everyone's."""


class IssuedCertificates(BaseModel):
    """Counts only: a cohort of 50,000 would not fit its codes into one workflow result."""

    cohort_id: str
    completed: int
    """Participants (in the prefecture, if one was named) who have completed."""
    issued: int
    """Certificates recorded now."""
    already_issued: int


class IssueCycleCertificate(BaseModel):
    person_key: str
    rule_id: str
    as_of: date
    """The day the rule is judged on: its cycle is the one holding this day."""
    workflow_id: str
    actor: str


class CertificateActivities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn
    @refusals_are_final
    async def issue_completion_certificates(self, req: IssueCertificates) -> IssuedCertificates:
        try:
            template = await pinned_template(self.store, req.cohort_id)
        except LookupError:
            raise CommandRefused(phrase("cohort {cohort_id} does not exist", cohort_id=req.cohort_id)) from None
        cohort = CohortProgramme(req.cohort_id, template.id, template.name)
        completions = Completions()
        async with heartbeating():
            async for stored in self.store.read_stream(cohort_stream(req.cohort_id), types=SOURCE_TYPES):
                completions.apply(decode(stored.type, stored.schema_version, stored.data), stored.recorded_at)
            completed = completions.completed(req.prefecture)
            appends = []
            for person in completed:
                event = completion_certificate(person, new_code(secrets.token_bytes(RANDOM_BYTES)), cohort, req.actor)
                metadata = Metadata(
                    actor=req.actor,
                    workflow_id=req.workflow_id,
                    programme_id=template.id,
                    programme_version=template.version,
                    step=f"certificate/{person.participant_id}",
                    correlation_id=req.cohort_id,
                ).model_dump()
                appends.append(
                    Append(
                        certificate_stream(event.code),
                        [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)],
                        issue_key(req.cohort_id, person.participant_id),
                        expected_version=0,
                    )
                )
            issued = 0
            if appends:
                results = await self.store.append_each(appends)
                issued = sum(not r.duplicate for r in results)
        structlog.get_logger().info(
            "certificates issued", cohort_id=req.cohort_id, workflow_id=req.workflow_id, issued=issued
        )
        return IssuedCertificates(
            cohort_id=req.cohort_id, completed=len(completed), issued=issued, already_issued=len(completed) - issued
        )

    @activity.defn
    @refusals_are_final
    async def issue_cycle_certificate(self, req: IssueCycleCertificate) -> CertificateIssued:
        """A person's certificate for the cycle of an hours-per-cycle rule they have met; the one already issued
        for that cycle if there is one. Judged on the read models, brought up to date first."""
        async with heartbeating():
            await Projector(self.store).catch_up(wait=True)
        facts = await person(self.store.pool, req.person_key)
        if facts is None:
            raise CommandRefused(phrase("person {person_key} is not registered", person_key=req.person_key))
        judged = await person_standing(self.store.pool, facts, shipped_requirements(), req.as_of)
        rule = next((r for r in judged.rules if r.rule_id == req.rule_id), None)
        if rule is None:
            raise CommandRefused(
                phrase(
                    "rule {rule_id} does not apply to {name} ({post})",
                    rule_id=req.rule_id,
                    name=facts.name,
                    post=facts.post,
                )
            )
        if rule.unit != "hours" or rule.window is None or not rule.title:
            raise CommandRefused(phrase("rule {rule_id} is not one of hours per cycle", rule_id=req.rule_id))
        if not rule.met:
            raise CommandRefused(phrase("{title} is not met: {why}", title=rule.title, why=rule.why))
        first, last = rule.window
        met = CycleMet(
            facts.person_key, facts.name, facts.national_id, rule.rule_id, rule.title, first.year, last.year,
            rule.achieved, req.as_of,
        )  # fmt: skip
        event = cycle_certificate(met, new_code(secrets.token_bytes(RANDOM_BYTES)), req.actor)
        key = cycle_issue_key(facts.person_key, rule.rule_id, first.year)
        metadata = Metadata(
            actor=req.actor, workflow_id=req.workflow_id, programme_id="", programme_version=0, step=key
        ).model_dump()
        new = NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)
        [result] = await self.store.append_each([Append(certificate_stream(event.code), [new], key, 0)])
        if result.duplicate:  # issued before: answer that certificate, not the code drawn now
            [earlier] = await self.store.recorded(key) or []
            return CertificateIssued.model_validate(earlier.data)
        return event
