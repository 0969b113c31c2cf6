"""Every shipped block template runs end to end on the time-skipping server, fed only through imports.

The files are generated for each block as it opens (``cohortflow.demo``) and
sent as ``import_file`` Updates, the path an upload takes; completion,
credits and the chain come out of what the cohort decided from them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from cohortflow.audit.verify import verify_cohort
from cohortflow.demo.block_feed import BlockFeed
from cohortflow.demo.feeding import drive, skip_past
from cohortflow.domain.block_progress import met, reaches
from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.template import parse_template
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.services.cohorts import start_block_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.block_cycle import BlockCycleInput, BlockCycleWorkflow
from tests.workflows.helpers import event_types, running_worker

PROGRAMMES = Path(__file__).parents[2] / "examples" / "programmes"
BLOCK_EXAMPLES = sorted(p.name for p in PROGRAMMES.glob("*.yaml") if "stages" in yaml.safe_load(p.read_text()))


def test_the_examples_include_every_shape_of_the_brief() -> None:
    assert BLOCK_EXAMPLES == ["leader-programme.yaml", "placement.yaml", "qualification.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("example", BLOCK_EXAMPLES)
async def test_an_example_template_runs_from_imports_to_completion(
    example: str, time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    template = parse_template(yaml.safe_load((PROGRAMMES / example).read_text()))
    cohort_id = f"example-{Path(example).stem}"
    client = time_skipping.client

    async with running_worker(client, store, task_queue, uploads=tmp_path):
        await start_block_cohort(client, BlockCycleInput(cohort_id=cohort_id, template=template), task_queue)
        feed = BlockFeed(client, store, cohort_id, template, seed=3)
        await drive(client, tmp_path, cohort_id, feed, skip_past(time_skipping, limit=60))
        result = await client.get_workflow_handle_for(BlockCycleWorkflow.run, f"cohort-{cohort_id}").result()

    counts = await event_types(store, cohort_id)
    assert counts["BlockOpened"] == counts["BlockClosed"] == len(template.stages)
    assert counts["CandidateNominated"] == template.candidates == result.counters.candidates
    facts = await cohort_facts(store, cohort_id)
    final = next(b for b in template.stages if isinstance(b, Completion))
    expected = [
        p for p in facts.participants.values() if reaches(template, facts, p, final) and met(template, p, final)
    ]
    assert 0 < len(expected) == result.counters.completed == counts["ParticipantCompleted"]
    assert len(expected) < template.candidates  # some fell short of a block, as the generated files intend
    assert counts["CreditAwarded"] > 0 and result.counters.credit_hours > 0
    assert (await verify_cohort(store, cohort_id)).ok
