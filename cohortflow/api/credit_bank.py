"""The credit bank's changes: people files, credits files, corrections and reversals, sent to ``credit-bank``.

Thin, as the cohort routes: an upload is kept under its digest and only the
digest travels; the workflow applies one change at a time, whole or not at all.
A file with bad rows answers 422 with every row's problem (``commands.send``),
a correction or reversal the bank refuses answers 409 with its reason. A
coordinator's requests carry their prefecture, and the bank refuses rows and
people outside it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StringConstraints
from temporalio.client import WorkflowHandle

from cohortflow.access.roles import Permission, Principal
from cohortflow.activities.credit_bank import (
    BankOutcome,
    CreditReversal,
    CreditsImport,
    PeopleImport,
    PersonCorrection,
    ReversalsImport,
    Reversed,
)
from cohortflow.api.auth import require
from cohortflow.api.commands import send
from cohortflow.api.idempotency import Idempotent, Once
from cohortflow.api.pages import bad_request
from cohortflow.api.problems import answers
from cohortflow.api.text import Reason
from cohortflow.api.uploads import UPLOAD_BODY, saved_upload
from cohortflow.domain.credit_bank.credits import BankSource
from cohortflow.domain.credit_bank.people import PersonFacts, PersonField
from cohortflow.domain.phrases import phrase
from cohortflow.services.credit_bank import credit_bank
from cohortflow.workflows.credit_bank import CreditBankWorkflow

router = APIRouter(prefix="/api/v1", tags=["credit bank"])
PeopleWriter = Annotated[Principal, Depends(require(Permission.PEOPLE_WRITE))]
CreditsWriter = Annotated[Principal, Depends(require(Permission.CREDITS_WRITE))]
FILE_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "Bad rows; nothing was applied (every row's problem in `problems`)"}
}
BANK_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The bank refused the change (its reason in `detail`)"}
}


class Correction(BaseModel):
    field: PersonField
    value: str | None = Field(description="The new value (a date as YYYY-MM-DD); null to clear an optional fact")
    reason: Reason


class Reversal(BaseModel):
    entry_id: str = Field(min_length=1, max_length=200)
    cohort_id: str | None = Field(
        None, min_length=1, max_length=200, description="The cohort that awarded the entry; omit for a bank entry"
    )
    reason: Reason
    approver: str | None = Field(
        None,
        max_length=200,
        description="For an entry of a year its district's annual review locked: the approver who locked it",
    )


async def _bank(request: Request) -> WorkflowHandle[Any, Any]:
    """The bank's workflow, started on its first change."""
    return await credit_bank(request.app.state.temporal, request.app.state.settings.task_queue)


BankFile = Literal["people", "credits", "reversals"]
BANK_FILE_PERMISSIONS: dict[BankFile, Permission] = {
    "people": Permission.PEOPLE_WRITE,
    "credits": Permission.CREDITS_WRITE,
    "reversals": Permission.CREDITS_WRITE,
}
"""What each of the bank's files needs of the importer."""


async def bank_import(
    request: Request,
    principal: Principal,
    kind: BankFile,
    *,
    reason: str = "",
    recorded_by: str = "",
    source: BankSource = "school",
    once: Once | None = None,
) -> BankOutcome:
    """The request's uploaded file imported into the credit bank, by the API's routes and the console's form alike:
    saved under its digest (refused unread if of the wrong kind or size), then checked and applied whole, or
    refused whole (``RowsRefused``), by the bank's Update, within the importer's unit and with them as the actor."""
    saved = await saved_upload(request)
    unit = {"actor": principal.actor, "prefecture": principal.prefecture_scope}
    handle = await _bank(request)
    if kind == "people":
        people = PeopleImport(digest=saved.digest, filename=saved.filename, reason=reason.strip(), **unit)
        outcome: BankOutcome = await send(handle, CreditBankWorkflow.import_people, people, once=once)
        return outcome
    unit |= {"county": principal.county_scope, "school": principal.school_scope}
    if kind == "credits":
        credits = CreditsImport(
            digest=saved.digest, filename=saved.filename, source=source, recorded_by=recorded_by, **unit
        )
        outcome = await send(handle, CreditBankWorkflow.import_credits, credits, once=once)
        return outcome
    reversals = ReversalsImport(digest=saved.digest, filename=saved.filename, **unit)
    outcome = await send(handle, CreditBankWorkflow.import_reversals, reversals, once=once)
    return outcome


@router.post("/people/imports", responses={**answers(409, 415), **FILE_REFUSED}, openapi_extra=UPLOAD_BODY)
async def import_people(
    request: Request,
    principal: PeopleWriter,
    once: Idempotent,
    reason: Annotated[
        str, Query(max_length=500, description="Why registered people's facts change; needed if the file changes any")
    ] = "",
) -> BankOutcome:
    """Register a people file's new people and correct the registered ones it changes (with ``reason``).

    Every row is checked; one bad row refuses the whole file. A coordinator's rows must all carry their
    prefecture's code, and may not name people registered in another prefecture.
    """
    return await bank_import(request, principal, "people", reason=reason, once=once)


@router.post("/credit-bank/imports", responses={**answers(409, 415), **FILE_REFUSED}, openapi_extra=UPLOAD_BODY)
async def import_credits(
    request: Request,
    principal: CreditsWriter,
    once: Idempotent,
    recorded_by: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Query(description="The unit recording the credits: a school's name or a county's code"),
    ],
    source: Annotated[BankSource, Query(description="Who recorded the hours")] = "school",
) -> BankOutcome:
    """Record a credits file's hours, each for a registered person; one bad row refuses the whole file.

    The same file imported again is refused (its rows are already recorded). A coordinator's rows must all be
    for people registered in their prefecture.
    """
    school = principal.school_scope
    if school is not None and (source != "school" or recorded_by != school):
        raise bad_request(
            phrase(
                "a school's token records its own school's credits: source=school, recorded_by={school}", school=school
            )
        )
    return await bank_import(request, principal, "credits", recorded_by=recorded_by, source=source, once=once)


@router.post(
    "/credit-bank/reversals/imports", responses={**answers(409, 415), **FILE_REFUSED}, openapi_extra=UPLOAD_BODY
)
async def import_reversals(request: Request, principal: CreditsWriter, once: Idempotent) -> BankOutcome:
    """Reverse the entries a file names (身份证号, 条目编号, 培训班编号 for a cohort's award, 冲销原因, and 审核人 for
    an entry of a locked year); one bad row refuses the whole file.

    Each row is refused as a reversal by hand would be: an entry unknown for that person, reversed already (in the
    bank, or earlier in the file), itself a reversal, without a reason, of a locked year without its approver, of a
    person outside your unit; a school reverses only the school-level entries it recorded.
    """
    return await bank_import(request, principal, "reversals", once=once)


@router.post("/people/{person_key}/corrections", responses=BANK_REFUSED)
async def correct_person(
    person_key: str, body: Correction, request: Request, principal: PeopleWriter, once: Idempotent
) -> PersonFacts:
    """Correct one fact of a registered person; the original stays in the history beside the correction."""
    req = PersonCorrection(
        person_key=person_key,
        field=body.field,
        value=body.value,
        reason=body.reason,
        actor=principal.actor,
        prefecture=principal.prefecture_scope,
    )
    handle = await _bank(request)
    facts: PersonFacts = await send(handle, CreditBankWorkflow.correct_person, req, once=once)
    # As the registry's reads show a person: the key is the registry's handle, the ID number masked unless readable.
    return facts.model_copy(update={"national_id": principal.show_id(facts.national_id)})


@router.post("/people/{person_key}/reversals", responses=BANK_REFUSED)
async def reverse_credit(
    person_key: str, body: Reversal, request: Request, principal: CreditsWriter, once: Idempotent
) -> Reversed:
    """Cancel one of a person's credit entries with a reversing entry: a bank entry, or a cohort's award
    (``cohort_id``). An entry is reversed once."""
    req = CreditReversal(
        person_key=person_key,
        entry_id=body.entry_id,
        cohort_id=body.cohort_id,
        reason=body.reason,
        approver=body.approver,
        actor=principal.actor,
        prefecture=principal.prefecture_scope,
        county=principal.county_scope,
        school=principal.school_scope,
    )
    handle = await _bank(request)
    done: Reversed = await send(handle, CreditBankWorkflow.reverse_credit, req, once=once)
    return done
