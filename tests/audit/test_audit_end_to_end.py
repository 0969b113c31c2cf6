"""Auditing a real cohort: bundles checked offline, selections replayed, past states rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

import cohortflow.audit.standalone_verifier as standalone
from cohortflow.audit.as_of import ParticipantAsOf, participant_as_of
from cohortflow.audit.bundle import restore_bundle, write_bundle
from cohortflow.audit.histories import cohort_histories, read_histories, replay_histories, write_histories
from cohortflow.audit.selection_replay import replay_selection
from cohortflow.audit.verify import export_digest, verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.runtime.temporal import installed_binary
from cohortflow.services.cohorts import start_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import CohortCycleInput
from tests.conftest import fresh_database
from tests.workflows.helpers import feed_phase, feed_until_done, running_worker, wait_for_status

VERIFIER = Path(standalone.__file__)


class LiveCycle:
    """A finished cohort, and participant states queried live at moments of its run."""

    def __init__(self, url: str, store: EventStore, snapshots: list[tuple[datetime, ParticipantAsOf]]) -> None:
        self.url, self.store, self.snapshots = url, store, snapshots


@pytest.fixture(scope="module")
async def live(
    module_time_skipping: WorkflowEnvironment, postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveCycle]:
    """One real cohort cycle for the whole module (the auditing tests only read it)."""
    uploads = tmp_path_factory.mktemp("uploads")
    client, task_queue = module_time_skipping.client, "audit-e2e"
    url = fresh_database(postgres)
    store = await EventStore.connect(url)
    snapshots = []
    inp = CohortCycleInput(cohort_id="audited", programme=sample_programme(300, 40))
    async with running_worker(client, store, task_queue, uploads):
        handle = await start_cohort(client, inp, task_queue)
        await feed_phase(client, store, uploads, "audited", inp.programme, "nomination", seed=21)
        await wait_for_status(client, handle.id, lambda s: s.counters.candidates > 0)
        for participant in ("P000001", "P000002"):
            now = datetime.now(UTC)
            snapshots.append((now, await participant_as_of(store, "audited", participant, now)))
        await module_time_skipping.sleep(timedelta(days=31))
        await feed_phase(client, store, uploads, "audited", inp.programme, "online_study", seed=21)
        await module_time_skipping.sleep(timedelta(days=94))
        await wait_for_status(client, handle.id, lambda s: s.counters.selected > 0)
        now = datetime.now(UTC)
        snapshots.append((now, await participant_as_of(store, "audited", "P000001", now)))
        await feed_until_done(module_time_skipping, store, uploads, "audited", inp.programme, seed=21)
        await handle.result()
    yield LiveCycle(url, store, snapshots)
    await store.close()


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, no site-packages and no project on the path: the standard library only.
    return subprocess.run([sys.executable, "-I", str(VERIFIER), *args], capture_output=True, text=True, timeout=60)


async def test_bundles_check_offline_and_tampering_with_them_is_caught(live: LiveCycle, tmp_path: Path) -> None:
    everything, one = tmp_path / "all.jsonl", tmp_path / "audited.jsonl"
    summary = await write_bundle(live.store, everything, datetime.now(UTC))
    await write_bundle(live.store, one, datetime.now(UTC), cohort_id="audited")
    digest_file = tmp_path / "digest.json"
    digest_file.write_text((await export_digest(live.store, datetime.now(UTC))).model_dump_json())

    ok = run_verifier(str(everything), "--digest", str(digest_file))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{summary.events} events checked: intact" in ok.stdout
    assert run_verifier(str(one)).returncode == 0

    lines = everything.read_text(encoding="utf-8").splitlines()
    changed = [
        line.replace('"satisfaction": 5', '"satisfaction": 4', 1) if '"SurveyResponded"' in line else line
        for line in lines
    ]
    assert changed != lines
    (tmp_path / "changed.jsonl").write_text("\n".join(changed) + "\n", encoding="utf-8")
    broken = run_verifier(str(tmp_path / "changed.jsonl"))
    assert broken.returncode == 1 and "(changed)" in broken.stdout

    dropped = [line for i, line in enumerate(lines) if i != 40]
    (tmp_path / "dropped.jsonl").write_text("\n".join(dropped) + "\n", encoding="utf-8")
    missing = run_verifier(str(tmp_path / "dropped.jsonl"))
    assert missing.returncode == 1 and "missing" in missing.stdout

    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:100]) + "\n", encoding="utf-8")
    assert run_verifier(str(tmp_path / "cut.jsonl")).returncode == 2  # no digest line: cut short
    (tmp_path / "junk.jsonl").write_text("not json\n", encoding="utf-8")
    assert run_verifier(str(tmp_path / "junk.jsonl")).returncode == 2


async def test_selection_replays_identically_here_and_in_a_database_built_from_the_bundle(
    live: LiveCycle, tmp_path: Path, postgres: EmbeddedPostgres
) -> None:
    before = (await live.store.head()).position
    replay = await replay_selection(live.store, "audited")
    assert replay.identical and replay.changes == [] and replay.selected_replayed == 40
    assert (await live.store.head()).position == before  # a replay records nothing

    bundle = tmp_path / "all.jsonl"
    await write_bundle(live.store, bundle, datetime.now(UTC))
    fresh = await EventStore.connect(fresh_database(postgres))
    try:
        assert await restore_bundle(fresh, bundle) == before
        assert (await verify_store(fresh)).ok
        again = await replay_selection(fresh, "audited")
        assert again.identical and again.input_digest_replayed == replay.input_digest_recorded
    finally:
        await fresh.close()


async def test_what_if_shows_who_would_change_and_why(live: LiveCycle) -> None:
    stricter = sample_programme(300, 40).model_copy(
        update={"online": sample_programme(300, 40).online.model_copy(update={"min_hours": 170})}
    )
    result = await replay_selection(live.store, "audited", what_if=stricter)
    assert result.what_if and not result.identical and result.changes
    dropped = [c for c in result.changes if c.replayed in ("not selected",) or c.replayed.startswith("waiting")]
    assert any(c.why == "not eligible under the replayed rule" and c.hours < 170 for c in dropped)
    assert all(c.recorded != c.replayed for c in result.changes)


async def test_as_of_matches_what_was_seen_live(live: LiveCycle) -> None:
    for moment, seen in live.snapshots:
        rebuilt = await participant_as_of(live.store, "audited", seen.participant_id, moment)
        assert rebuilt == seen
    first, _ = live.snapshots[0]
    assert live.snapshots[0][1].selection == "not decided yet"
    assert live.snapshots[-1][1].selection in ("selected", "waiting list", "not selected")
    final = await participant_as_of(live.store, "audited", "P000001", datetime.now(UTC))
    assert final.events[-1].position > live.snapshots[-1][1].events[-1].position
    past = await cohort_summary(live.store, "audited", as_of=first)
    assert past.funnel["nominated"] == 300 and past.funnel["selected"] == 0 and past.phase == "nomination"


async def test_as_of_refuses_bad_questions(live: LiveCycle) -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    with pytest.raises(LookupError, match="did not exist yet"):
        await participant_as_of(live.store, "audited", "P000001", long_ago)
    with pytest.raises(LookupError, match="did not exist yet"):
        await cohort_summary(live.store, "audited", as_of=long_ago)
    with pytest.raises(LookupError, match="P999999 was not in cohort audited"):
        await participant_as_of(live.store, "audited", "P999999", datetime.now(UTC))
    with pytest.raises(ValueError, match="time zone"):
        await participant_as_of(live.store, "audited", "P000001", datetime(2030, 1, 1))


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "COHORTFLOW_ACTOR": "auditor-wang"}
    return subprocess.run(
        [installed_binary("cohortflow"), "audit", *args], capture_output=True, text=True, env=env, timeout=120
    )


async def test_cli_answers_records_each_query_and_refuses_bad_input(live: LiveCycle, tmp_path: Path) -> None:
    database_url = live.url
    digest = tmp_path / "digest.json"
    assert cli(database_url, "digest", "--out", str(digest)).returncode == 0
    verified = cli(database_url, "verify", "--digest", str(digest), "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    replay = cli(database_url, "selection", "audited")
    assert replay.returncode == 0 and "identical to the record" in replay.stdout
    queries = [e async for e in live.store.read_stream("audit")]
    assert [(e.data["query"], e.metadata["actor"]) for e in queries] == [
        ("digest", "auditor-wang"),
        ("verify", "auditor-wang"),
        ("selection", "auditor-wang"),
    ]

    before = (await live.store.head()).position
    foreign = json.loads(digest.read_text()) | {"store_id": "00000000-0000-0000-0000-000000000000"}
    (tmp_path / "foreign.json").write_text(json.dumps(foreign))
    refused = cli(database_url, "verify", "--digest", str(tmp_path / "foreign.json"))
    assert refused.returncode == 2 and "exported from store 00000000" in refused.stderr
    (tmp_path / "bad.json").write_text("{not json")
    assert cli(database_url, "verify", "--digest", str(tmp_path / "bad.json")).returncode == 2
    early = cli(database_url, "as-of", "audited", "--at", "2001-01-01T00:00:00+08:00")
    assert early.returncode == 2 and "did not exist yet" in early.stderr
    assert cli(database_url, "as-of", "audited", "--at", "yesterday").returncode == 2
    assert cli(database_url, "as-of", "nope", "--at", "2030-01-01T00:00:00+08:00").returncode == 2
    assert (await live.store.head()).position == before  # refusals write nothing


async def test_histories_export_and_replay_against_current_code(
    live: LiveCycle, module_time_skipping: WorkflowEnvironment, tmp_path: Path
) -> None:
    histories = await cohort_histories(module_time_skipping.client, "audited", sample_programme(300, 40))
    paths = write_histories(histories, tmp_path / "h", "audited")
    assert len(paths) == 7 + 3  # seven runs of the cycle (one per phase), three sites
    outcomes = await replay_histories(read_histories(tmp_path / "h"))
    assert [o.agrees for o in outcomes] == [True] * 10
    assert {o.workflow_id for o in outcomes} == {
        "cohort-audited",
        *(f"cohort-audited-site-{s}" for s in ("CS", "NC", "CQ")),
    }


def test_replay_history_cli_exit_codes(tmp_path: Path, histories_dir: Path) -> None:
    ok = subprocess.run(
        [installed_binary("cohortflow"), "audit", "replay-history", str(histories_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "agrees" in ok.stdout and "DISAGREES" not in ok.stdout
    empty = subprocess.run(
        [installed_binary("cohortflow"), "audit", "replay-history", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 2 and "no workflow histories" in empty.stderr
