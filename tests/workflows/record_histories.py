"""Record the workflow histories that tests/workflows/test_replay.py replays.

Run with `make histories` after a deliberate, compatible change to workflow
code; commit the old files alongside the new ones so that histories recorded
under earlier code keep being replayed (cycles run for years).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from cohortflow.activities.credit_bank import CreditReversal, CreditsImport, PeopleImport
from cohortflow.audit.histories import cohort_histories, run_chain, write_histories
from cohortflow.demo.block_feed import BlockFeed
from cohortflow.demo.feeding import Progress, drive, skip_past
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.credit_bank.review import review_id
from cohortflow.domain.rotation_plan import RotationPlan
from cohortflow.domain.template import parse_template
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.runtime.time_skipping import start_time_skipping
from cohortflow.services.cohorts import start_block_cohort, start_cohort
from cohortflow.services.credit_bank import credit_bank
from cohortflow.services.plans import start_plan
from cohortflow.store.eventstore import EventStore
from cohortflow.store.migrate import upgrade
from cohortflow.workflows.annual_review import AnnualReviewInput, AnnualReviewWorkflow, ListStep
from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleWorkflow, CloseBlock, ExtendBlock
from cohortflow.workflows.cohort_cycle import (
    CohortCycleInput,
    CohortCycleWorkflow,
    ExtendDeadline,
    FileImport,
    Withdraw,
)
from cohortflow.workflows.credit_bank import CreditBankWorkflow
from cohortflow.workflows.cycle_support import Correction
from cohortflow.workflows.rotation_plan import RotationPlanInput, RotationPlanWorkflow
from tests.credit_bank.test_bank_workflow import PEOPLE
from tests.workflows.helpers import feed_phase, feed_until_done, running_worker, terminate_cohorts, wait_for_status

OUT = Path(__file__).parent.parent / "histories"
EXAMPLES = Path(__file__).parents[2] / "examples" / "programmes"


async def record(tag: str) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", delete_on_stop=True)
        try:
            url = pg.ensure_database()
            upgrade(url)
            store = await EventStore.connect(url)
            env = await start_time_skipping()
            try:
                uploads = Path(tmp) / "uploads"
                return [
                    *await _run(env, store, tag, uploads),
                    *await _run_plan(env, store, tag),
                    *await _run_blocks(env, store, tag, uploads),
                    *await _run_bank(env, store, tag, uploads),
                ]
            finally:
                await env.shutdown()
                await store.close()
        finally:
            pg.stop()


async def _run(env: WorkflowEnvironment, store: EventStore, tag: str, uploads: Path) -> list[Path]:
    client = env.client
    cohort = f"replay-{tag}"
    inp = CohortCycleInput(cohort_id=cohort, programme=sample_programme(120, 16, reminders=True))
    again = b"participant_id,name,national_id,gender,prefecture_code\nP000001,x,110101199003070000,M,430100\n"
    digest = hashlib.sha256(again).hexdigest()
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / digest).write_bytes(again)
    async with running_worker(client, store, "record-histories", uploads):
        handle = await start_cohort(client, inp, "record-histories")
        await feed_phase(client, store, uploads, cohort, inp.programme, "nomination", seed=11)
        status = await wait_for_status(client, handle.id, lambda s: s.counters.candidates > 0)
        assert status.deadline is not None
        await handle.execute_update(
            CohortCycleWorkflow.extend_deadline,
            ExtendDeadline(phase="nomination", new_deadline=status.deadline + timedelta(days=3), reason="replay"),
        )
        await handle.execute_update(
            CohortCycleWorkflow.withdraw_participant, Withdraw(participant_id="P000002", reason="replay")
        )
        await handle.execute_update(
            CohortCycleWorkflow.correct_fact,
            Correction(participant_id="P000003", field="school", value="replay school", reason="replay"),
        )
        await handle.execute_update(
            CohortCycleWorkflow.import_file, FileImport(kind="nominees", digest=digest, filename="again.csv")
        )
        await feed_until_done(env, store, uploads, cohort, inp.programme, seed=11)
        await handle.result()
        histories = await cohort_histories(client, inp.cohort_id, inp.programme)
    return write_histories(histories, OUT, tag)


async def _run_plan(env: WorkflowEnvironment, store: EventStore, tag: str) -> list[Path]:
    """A rotation plan until it has started its second year's cohort (its children are not recorded)."""
    client = env.client
    programme = sample_programme(60, 10)
    plan = RotationPlan(
        id=f"replay-{tag}-plan",
        name="replay",
        programme_id=programme.id,
        programme_version=programme.version,
        first_year=2026,
        years=2,
    )
    async with running_worker(client, store, "record-histories"):
        handle = await start_plan(client, store, RotationPlanInput(plan=plan, programme=programme), "record-histories")
        await env.sleep(timedelta(days=366))
        for _ in range(200):
            if len((await handle.query(RotationPlanWorkflow.status)).started) == plan.years:
                break
            await asyncio.sleep(0.05)
        history = await handle.fetch_history()
        await terminate_cohorts(client, store)
    return write_histories([history], OUT, tag)


async def _run_blocks(env: WorkflowEnvironment, store: EventStore, tag: str, uploads: Path) -> list[Path]:
    """The placement example's cohort fed through imports, with a withdrawal and an early close on the way."""
    client = env.client
    template = parse_template(yaml.safe_load((EXAMPLES / "placement.yaml").read_text(encoding="utf-8")))
    cohort = f"replay-{tag}-blocks"
    steered: set[str] = set()
    seen: list[Progress] = []
    skip = skip_past(env)

    async def advance(moment: datetime) -> None:
        handle = client.get_workflow_handle_for(BlockCycleWorkflow.run, f"cohort-{cohort}")
        open_now = set(seen[-1].open)
        if "report-back" in open_now and "withdraw" not in steered:
            steered.add("withdraw")
            await handle.execute_update(
                BlockCycleWorkflow.withdraw_participant, Withdraw(participant_id="P000002", reason="replay")
            )
            later = moment + timedelta(days=2)  # report-back's close is the next step
            await handle.execute_update(
                BlockCycleWorkflow.extend_block, ExtendBlock(block="report-back", new_close=later, reason="replay")
            )
            return
        if "follow-up" in open_now and "close" not in steered:
            steered.add("close")
            await handle.execute_update(BlockCycleWorkflow.close_block, CloseBlock(block="follow-up", reason="replay"))
            return
        await skip(moment)

    async with running_worker(client, store, "record-histories", uploads):
        await start_block_cohort(client, BlockCycleInput(cohort_id=cohort, template=template), "record-histories")
        feed = BlockFeed(client, store, cohort, template, seed=11)
        await drive(client, uploads, cohort, feed, advance, on_progress=seen.append)
        await client.get_workflow_handle(f"cohort-{cohort}").result()
        histories = await run_chain(client, f"cohort-{cohort}")
    return write_histories(histories, OUT, tag)


async def _run_bank(env: WorkflowEnvironment, store: EventStore, tag: str, uploads: Path) -> list[Path]:
    """The credit bank taking a people file, a credits file, a refused and an accepted reversal; then a district's
    annual review with a returned list, a reminder and the lock."""
    client = env.client
    people, district = PEOPLE, "510104"
    credits = "身份证号,培训名称,学时,级别,结束日期\n110101198003071239,校本研修,12,校级,2025-06-30\n"
    async with running_worker(client, store, "record-histories", uploads):
        bank = await credit_bank(client, "record-histories")
        await bank.execute_update(
            CreditBankWorkflow.import_people, PeopleImport(digest=_upload(uploads, people), filename="people.csv")
        )
        await bank.execute_update(
            CreditBankWorkflow.import_credits,
            CreditsImport(digest=_upload(uploads, credits), filename="credits.csv", recorded_by="第一中学"),
        )
        key = (await store.person_keys()).of("110101198003071239")
        entry = f"school-{hashlib.sha256(credits.encode()).hexdigest()[:16]}-2"
        for reason in (" ", "recorded twice"):
            with contextlib.suppress(WorkflowUpdateFailedError):
                await bank.execute_update(
                    CreditBankWorkflow.reverse_credit, CreditReversal(person_key=key, entry_id=entry, reason=reason)
                )
        today = (await env.get_current_time()).date()
        review = await client.start_workflow(
            AnnualReviewWorkflow.run,
            AnnualReviewInput(district=district, year=today.year - 1, deadline=today + timedelta(days=10)),
            id=review_id(district, today.year - 1),
            task_queue="record-histories",
        )
        while not (await review.query(AnnualReviewWorkflow.status)).schools:
            await asyncio.sleep(0.05)
        await review.execute_update(AnnualReviewWorkflow.submit, ListStep(school="第一中学"))
        await review.execute_update(AnnualReviewWorkflow.return_list, ListStep(school="第一中学", reasons=["replay"]))
        await review.execute_update(AnnualReviewWorkflow.submit, ListStep(school="第一中学"))
        await env.sleep(timedelta(days=5))
        await review.execute_update(AnnualReviewWorkflow.approve, ListStep(school="第一中学"))
        await review.result()
        histories = [await bank.fetch_history(), await review.fetch_history()]
        await bank.terminate("recorded")
    return write_histories(histories, OUT, tag)


def _upload(uploads: Path, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    (uploads / digest).write_text(text, encoding="utf-8")
    return digest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.workflows.record_histories TAG   (a tag not used yet, e.g. v3)")
    for path in asyncio.run(record(sys.argv[1])):
        print(path)
