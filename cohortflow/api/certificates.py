"""Completion certificates: issued for a cohort, printed as PDF, verified by anyone holding a code.

Issuing starts a short workflow whose activity records the certificates (a coordinator
issues their own prefecture's only); printing reads the certificate recorded for the
participant. Verifying is open to all, without a token: the code printed on the paper is
the credential, and the answer shows only what the paper shows, the ID number masked.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities.certificates import IssuedCertificates
from cohortflow.api.auth import public, require
from cohortflow.api.idempotency import AnsweredOnce, AnswersKept
from cohortflow.api.pages import bad_request
from cohortflow.api.people import visible_person
from cohortflow.api.problems import answers
from cohortflow.certificates.lookup import certificate_by_code, participant_certificate
from cohortflow.certificates.pdf import render
from cohortflow.domain.certificate_codes import MalformedCode, parse_code
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import CertificateIssued, CertificateKind
from cohortflow.domain.phrases import phrase
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.cohort_facts import pinned_template
from cohortflow.readmodels.queries import participant
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.certificates import (
    CertificateIssuingInput,
    CertificateIssuingWorkflow,
    CycleCertificateInput,
    CycleCertificateWorkflow,
    issuing_workflow_id,
)

router = APIRouter(tags=["certificates"], route_class=AnswersKept)
Issuer = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
PDF = "application/pdf"


class CertificateVerification(BaseModel):
    """What the history records for a code: the certificate's printed facts and where it sits in the chain."""

    recorded: bool = Field(True, description="Always true: a code the history does not hold is answered 404")
    code: str
    kind: CertificateKind
    name: str
    national_id_masked: str
    credit_hours: float
    completed_on: date
    cohort_id: str | None
    programme_id: str | None
    programme_name: str | None
    requirement: str | None = Field(description="For a credit cycle's certificate, the rule met")
    cycle: str | None = Field(description="For a credit cycle's certificate, its years")
    issued_at: datetime
    position: int = Field(description="The certificate's position in the hash chain, to check against a bundle")
    hash: str


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


@router.post("/api/v1/cohorts/{cohort_id}/certificates", responses=answers(404, 409))
async def issue_certificates(
    cohort_id: str, request: Request, principal: Issuer, _: AnsweredOnce
) -> IssuedCertificates:
    """Issue a completion certificate to each participant who has completed and has none yet (a coordinator: their
    own prefecture's). Issuing again issues nothing twice; after more have completed, it issues only theirs."""
    await pinned_template(_store(request), cohort_id)  # 404 for a cohort that does not exist
    client: Client = request.app.state.temporal
    inp = CertificateIssuingInput(cohort_id=cohort_id, actor=principal.actor, prefecture=principal.prefecture_scope)
    issued: IssuedCertificates = await client.execute_workflow(
        CertificateIssuingWorkflow.run,
        inp,
        id=issuing_workflow_id(cohort_id, uuid.uuid4().hex[:12]),
        task_queue=request.app.state.settings.task_queue,
    )
    return issued


@router.get(
    "/api/v1/cohorts/{cohort_id}/participants/{participant_id}/certificate",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "The certificate, one A4 page"}},
)
async def certificate_pdf(cohort_id: str, participant_id: str, request: Request, principal: Issuer) -> Response:
    """The participant's completion certificate (结业证书) as PDF, with its verification code and a QR code of the
    verification address."""
    store = _store(request)
    scope = principal.prefecture_scope
    if scope is not None and await participant(store.pool, cohort_id, participant_id, scope) is None:
        raise LookupError(
            phrase(
                "participant {participant_id} is not in cohort {cohort_id} (or not in your prefecture)",
                participant_id=participant_id,
                cohort_id=cohort_id,
            )
        )
    found = await participant_certificate(store, cohort_id, participant_id)
    if found is None:
        raise LookupError(
            phrase(
                "participant {participant_id} of cohort {cohort_id} has no certificate (issue them first)",
                participant_id=participant_id,
                cohort_id=cohort_id,
            )
        )
    code = found.certificate.code
    url = str(request.url_for("verify_certificate", code=code))
    content = await asyncio.to_thread(render, found.certificate, url)  # a few milliseconds of drawing off the loop
    headers = {"Content-Disposition": f'attachment; filename="certificate-{code}.pdf"'}
    return Response(content, media_type=PDF, headers=headers)


@router.get("/api/v1/certificates/{code}", dependencies=[Depends(public)], responses=answers(400))
async def verify_certificate(
    code: Annotated[str, Path(description="The code as printed, e.g. `4KPZ-Q9J5-ETVP-9T8N`")], request: Request
) -> CertificateVerification:
    """Whether the history holds a certificate with this code, and what it printed: open to anyone holding the code.
    Lower case, spaces and the letters I, L and O (read as 1, 1 and 0) are taken as printed codes are read."""
    try:
        printed = parse_code(code)
    except MalformedCode as exc:
        raise bad_request(str(exc)) from None
    found = await certificate_by_code(_store(request), printed)
    if found is None:
        raise LookupError(phrase("no certificate with the code {code} is in the history", code=printed))
    c = found.certificate
    return CertificateVerification(
        code=c.code,
        kind=c.kind,
        name=c.name,
        national_id_masked=c.national_id_masked,
        credit_hours=c.credit_hours,
        completed_on=c.completed_on,
        cohort_id=c.cohort_id,
        programme_id=c.programme_id,
        programme_name=c.programme_name,
        requirement=c.requirement,
        cycle=c.cycle,
        issued_at=found.recorded_at,
        position=found.position,
        hash=found.hash,
    )


@router.post("/api/v1/people/{person_key}/certificates/{rule_id}", responses=answers(404, 409))
async def issue_cycle_certificate(
    person_key: str,
    rule_id: str,
    request: Request,
    principal: Issuer,
    _: AnsweredOnce,
    as_of: Annotated[
        date | None, Query(description="The day judged: its cycle is certified (today if not given)")
    ] = None,
) -> CertificateIssued:
    """A person's certificate (培训学时证书) for the cycle of an hours-per-cycle rule they have met on the day; the
    certificate already issued for that cycle, if there is one. Refused (409) with the reason if the rule is not met."""
    await visible_person(request, person_key, principal)
    client: Client = request.app.state.temporal
    today = datetime.now(PROVINCE_ZONE).date()
    if as_of is not None and as_of > today:
        raise bad_request(
            phrase("as_of {as_of} is in the future: a cycle is certified on a day that has come", as_of=as_of)
        )
    day = as_of or today
    inp = CycleCertificateInput(person_key=person_key, rule_id=rule_id, as_of=day, actor=principal.actor)
    try:
        issued: CertificateIssued = await client.execute_workflow(
            CycleCertificateWorkflow.run,
            inp,
            id=f"certificate-{person_key}-{rule_id}-{uuid.uuid4().hex[:12]}",
            task_queue=request.app.state.settings.task_queue,
        )
    except WorkflowFailureError as exc:
        cause = exc.cause.cause if isinstance(exc.cause, ActivityError) else exc.cause
        if not isinstance(cause, ApplicationError):  # not a refusal: a fault, answered as one (500)
            raise
        raise CommandRefused(cause.message) from None
    return issued


@router.get(
    "/api/v1/people/{person_key}/certificates/{code}",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "The certificate, one A4 page"}, **answers(400, 404)},
)
async def person_certificate_pdf(person_key: str, code: str, request: Request, principal: Issuer) -> Response:
    """One of the person's certificates as PDF, by its code."""
    await visible_person(request, person_key, principal)
    try:
        printed = parse_code(code)
    except MalformedCode as exc:
        raise bad_request(str(exc)) from None
    found = await certificate_by_code(_store(request), printed)
    if found is None or found.certificate.person_key != person_key:
        raise LookupError(phrase("person {person_key} has no certificate {code}", person_key=person_key, code=printed))
    url = str(request.url_for("verify_certificate", code=printed))
    content = await asyncio.to_thread(render, found.certificate, url)
    headers = {"Content-Disposition": f'attachment; filename="certificate-{printed}.pdf"'}
    return Response(content, media_type=PDF, headers=headers)
