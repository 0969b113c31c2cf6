"""The credit bank's workflow against the real store and a time-skipping Temporal server: people files, credits
files, corrections and reversals, each applied whole or refused whole with every reason."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from cohortflow.activities.credit_bank import (
    BankOutcome,
    CreditReversal,
    CreditsImport,
    PeopleImport,
    PersonCorrection,
    Reversed,
)
from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.registry import person_stream
from cohortflow.domain.events import CreditAwarded, Metadata
from cohortflow.services.credit_bank import credit_bank
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from cohortflow.workflows.credit_bank import CreditBankWorkflow
from tests.workflows.helpers import running_worker

PRINCIPAL = "110101198003071239"
TEACHER = "11010119850512234X"
UNREGISTERED = "110101199001013451"
PEOPLE = (
    "姓名,身份证号,职务,任职时间,学校,区县代码,市州代码,学科\n"
    f"王校长,{PRINCIPAL},校长,2024-09-01,第一中学,510104,510100,\n"
    f"李老师,{TEACHER},教师,,第一中学,510104,510100,数学\n"
)


def upload(uploads: Path, text: str) -> str:
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / digest).write_bytes(data)
    return digest


@pytest.fixture
async def bank(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    async with running_worker(time_skipping.client, store, task_queue, tmp_path / "uploads"):
        yield await credit_bank(time_skipping.client, task_queue)


async def people(bank: WorkflowHandle[Any, Any], uploads: Path, text: str, reason: str = "") -> BankOutcome:
    req = PeopleImport(digest=upload(uploads, text), filename="people.csv", reason=reason, actor="admin")
    outcome: BankOutcome = await bank.execute_update(CreditBankWorkflow.import_people, req)
    return outcome


async def credits(bank: WorkflowHandle[Any, Any], uploads: Path, text: str) -> BankOutcome:
    req = CreditsImport(
        digest=upload(uploads, text), filename="credits.csv", source="school", recorded_by="第一中学", actor="school"
    )
    outcome: BankOutcome = await bank.execute_update(CreditBankWorkflow.import_credits, req)
    return outcome


async def types(store: EventStore, national_id: str) -> Counter[str]:
    key = (await store.person_keys()).of(national_id)
    return Counter([e.type async for e in store.read_stream(person_stream(key))])


async def test_a_people_file_registers_once_and_corrects_only_with_a_reason(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    first = await people(bank, uploads, PEOPLE)
    assert (first.status, first.registered, first.unchanged) == ("applied", 2, 0)
    again = await people(bank, uploads, PEOPLE)
    assert (again.status, again.registered, again.unchanged) == ("applied", 0, 2)

    moved = PEOPLE.replace("李老师,11010119850512234X,教师,,第一中学", "李老师,11010119850512234X,教师,,第二中学")
    refused = await people(bank, uploads, moved)
    assert refused.status == "refused"
    assert refused.problems == [
        "row 3: already registered with other facts (school '第一中学' → '第二中学'); give a reason to correct"
    ]
    corrected = await people(bank, uploads, moved, reason="transferred in September")
    assert (corrected.status, corrected.corrected, corrected.unchanged) == ("applied", 1, 1)
    assert await types(store, TEACHER) == Counter({"PersonRegistered": 1, "PersonCorrected": 1})


async def test_a_people_file_with_a_bad_row_changes_nothing_and_names_every_problem(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    bad = PEOPLE + "赵老师,110101199001013452,老师,2031-01-01,第一中学,510104,510100,\n"
    outcome = await people(bank, tmp_path / "uploads", bad)
    assert outcome.status == "refused"
    assert outcome.problems == [
        "row 4, post: '老师' is not one of party_secretary, principal, teacher, vice_principal, 书记, 党支部书记, "
        "副校长, 教师, 校长",
    ]
    assert await types(store, PRINCIPAL) == Counter()


async def test_credits_are_recorded_for_registered_people_and_a_second_import_of_the_file_is_refused(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    await people(bank, uploads, PEOPLE)
    good = (
        "身份证号,姓名,培训名称,学时,级别,培训类别,结束日期,天数\n"
        f"{TEACHER},李老师,校本教研,12,校级,校本研修,2022-06-30,2\n"
        f"{PRINCIPAL},王校长,任职资格培训,120,省级,任职资格,2024/7/15,10\n"
    )
    recorded = await credits(bank, uploads, good)
    assert (recorded.status, recorded.recorded) == ("applied", 2)
    assert await types(store, TEACHER) == Counter({"PersonRegistered": 1, "BankCreditRecorded": 1})

    twice = await credits(bank, uploads, good)
    assert twice.status == "refused"
    [earlier] = twice.problems
    assert earlier.startswith("this file was recorded already, on ") and earlier.endswith(
        " by school; nothing was applied again"
    )
    assert await types(store, TEACHER) == Counter({"PersonRegistered": 1, "BankCreditRecorded": 1})


async def test_impossible_credits_are_refused_with_their_rows_and_nothing_is_recorded(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    await people(bank, uploads, PEOPLE)
    bad = (
        "身份证号,姓名,培训名称,学时,级别,结束日期,天数\n"
        f"{TEACHER},李老师,校本教研,12,校级,2022-06-30,1\n"
        f"{TEACHER},李老师,通宵研修,30,校级,2022-06-30,1\n"
        f"{TEACHER},李老师,未来研修,3,校级,2999-01-01,1\n"
        f"{TEACHER},李老师,童年研修,3,校级,1980-01-01,1\n"
        f"{TEACHER},张老师,校本教研,3,校级,2022-06-30,1\n"
        f"{UNREGISTERED},,校本教研,3,校级,2022-06-30,1\n"
        f"{TEACHER},李老师,负学时,-3,校级,2022-06-30,1\n"
    )
    outcome = await credits(bank, uploads, bad)
    assert outcome.status == "refused"
    assert outcome.problems == [
        "row 3, hours: 30 hours in 1 day(s) is more than 24 hours a day",
        "row 4, earned_on: 2999-01-01 is in the future",
        "row 5, earned_on: 1980-01-01 is before the person was born",
        "row 6, name: '张老师' is not the registered name of this ID number",
        "row 7, national_id: not registered in the credit bank; import the person first",
        "row 8, hours: -3 is not a positive number of hours",
    ]
    assert await types(store, TEACHER) == Counter({"PersonRegistered": 1})


async def test_a_bank_entry_and_a_finished_cohorts_award_are_reversed_once_with_a_reason(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    await people(bank, uploads, PEOPLE)
    await credits(bank, uploads, f"身份证号,培训名称,学时,级别,结束日期\n{TEACHER},校本教研,12,校级,2022-06-30\n")
    key = (await store.person_keys()).of(TEACHER)
    [entry] = [e async for e in store.read_stream(person_stream(key), types=["BankCreditRecorded"])]

    reverse = CreditReversal(person_key=key, entry_id=entry.data["entry_id"], reason="recorded twice", actor="admin")
    done: Reversed = await bank.execute_update(CreditBankWorkflow.reverse_credit, reverse)
    assert (done.reverses, done.hours, done.cohort_id) == (entry.data["entry_id"], 12.0, None)
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await bank.execute_update(CreditBankWorkflow.reverse_credit, reverse)
    assert str(again.value.cause).endswith(f"{entry.data['entry_id']}: already reversed by {done.entry_id}")

    # A cohort's award, its cohort long finished: the bank reverses it in the person's own stream.
    award = CreditAwarded(
        entry_id="P001/online", participant_id="P001", person_key=key, phase="online", hours=40.0,
        level="province", earned_by=[1],
    )  # fmt: skip
    meta = Metadata(actor="system", workflow_id="cohort-done", programme_id="p", programme_version=1, step="award")
    await store.append(
        "cohort-done", [NewEvent(award.TYPE, award.payload(), meta.model_dump())], idempotency_key="t/award"
    )
    cohort = CreditReversal(
        person_key=key, entry_id="P001/online", cohort_id="done", reason="did not attend", actor="admin"
    )
    undone: Reversed = await bank.execute_update(CreditBankWorkflow.reverse_credit, cohort)
    assert (undone.cohort_id, undone.hours) == ("done", 40.0)
    for wrong, why in [
        (cohort, "entry P001/online of cohort done: already reversed by"),
        (cohort.model_copy(update={"entry_id": "P002/online"}), "no such credit entry for this person"),
        (reverse.model_copy(update={"entry_id": "none", "reason": " "}), "a reversal needs a reason"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await bank.execute_update(CreditBankWorkflow.reverse_credit, wrong)
        assert why in str(refused.value.cause)
    assert await types(store, TEACHER) == Counter(
        {"PersonRegistered": 1, "BankCreditRecorded": 1, "BankCreditReversed": 2}
    )


async def test_a_person_is_corrected_by_hand_with_a_reason(
    bank: WorkflowHandle[Any, Any], store: EventStore, tmp_path: Path
) -> None:
    await people(bank, tmp_path / "uploads", PEOPLE)
    key = (await store.person_keys()).of(PRINCIPAL)
    fix = PersonCorrection(person_key=key, field="took_post_on", value="2024-08-15", reason="appointment letter")
    facts: PersonFacts = await bank.execute_update(CreditBankWorkflow.correct_person, fix)
    assert str(facts.took_post_on) == "2024-08-15"
    for wrong, why in [
        (fix, "took_post_on is already '2024-08-15'"),
        (fix.model_copy(update={"value": "soon"}), "took_post_on: 'soon' is not a valid value"),
        (fix.model_copy(update={"reason": ""}), "a correction needs a reason"),
        (fix.model_copy(update={"person_key": "nobody"}), "person nobody is not registered"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await bank.execute_update(CreditBankWorkflow.correct_person, wrong)
        assert why in str(refused.value.cause)
