"""`make faults`: a 5,000-person cohort run while its servers are killed, and one outage past the old retry budget.

Everything runs as it does in production, each server a process of its own: an
embedded PostgreSQL, Temporal's dev server on a SQLite file, a ``cohortflow
worker``, the reminder dispatcher and an SMTP server that keeps what it gets.
The sample programme's cohort is started and fed its files through the
``import_file`` Update, phase by phase, as an administrator would: each phase
that takes files is held open by an extension until its files are in, then
closed early. Programme days are compressed (0.2 s by default) because the dev
server's clock is real.

The run is made twice with the same seed. First undisturbed, for the reference:
how long the cycle takes and every event it records. Then with faults: at
random moments of that timeline (seeded; ``--seed`` repeats a run) the worker,
PostgreSQL or Temporal is killed with SIGKILL and started again after a short
random pause, and once PostgreSQL stays down for 8 minutes, longer than the
20 attempts (about 451 s) activities were once allowed; meanwhile the cohort
must be seen stalled, never failed. At the end:

- the cohort completed, with the reference's counters;
- per event type, as many events as the reference, and the same ones: no
  event lost, none doubled (an event is named by its type and the fields that
  say whom and what it is about, see :data:`IDENTITY`);
- the whole hash chain verifies;
- every reminder queued was delivered under its own Message-ID with exactly
  one ReminderSent (a second copy only as tests/reminders/test_kill.py allows:
  the same Message-ID, for a message accepted by the SMTP server but not yet
  recorded as sent when PostgreSQL died).

A check that fails is named and the command exits 1.

    .venv/bin/python -m bench.faults [--people 5000] [--seed N] [--kills 20] [--outage 480]

Kills never fall in the moment between an early close and the next phase's
extension (usually well under a second): with days of 0.2 s a phase that
takes files lasts seconds, and a worker down then would let it close before an
administrator could have held it open, which with real days cannot happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Literal, TypeVar

import psutil
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from bench.progress import say
from cohortflow.activities.field_study import PLACEMENTS_STEP
from cohortflow.activities.imports import ImportOutcome
from cohortflow.audit.verify import verify_store
from cohortflow.demo.csv_files import File
from cohortflow.demo.feeding import stage
from cohortflow.demo.phase_feed import PhaseFeed
from cohortflow.demo.sample import sample_programme, sample_reminders
from cohortflow.domain.phases import PHASE_ORDER
from cohortflow.domain.programme import PhaseKind, Programme
from cohortflow.reminders.channels.smtp import message_id
from cohortflow.runtime.leftovers import postmaster, read_pid_file, stop_postmaster, temporal_pid_file
from cohortflow.runtime.temporal import TemporalDevServer, free_port
from cohortflow.services.cohorts import start_cohort
from cohortflow.services.execution import Execution, execution_of
from cohortflow.store.eventstore import EventStore
from cohortflow.store.migrate import upgrade
from cohortflow.worker import connect_client
from cohortflow.workflows.cohort_cycle import (
    ClosePhase,
    CohortCycleInput,
    CohortCycleResult,
    CohortCycleWorkflow,
    CycleStatus,
    ExtendDeadline,
    FileImport,
    workflow_id,
)
from cohortflow.workflows.cycle_support import AdminOutcome

REPOSITORY = Path(__file__).resolve().parents[1]
PEOPLE, SELECTED_SHARE = 5000, 0.16
DAY_SECONDS = 0.2
KILLS = 20
OUTAGE_SECONDS = 480.0
OLD_RETRY_BUDGET_SECONDS = 451.0
"""The 20 attempts (1 s doubling up to 30 s apart) activities had before they retried without a limit."""
PAUSE_SECONDS = (1.0, 6.0)
"""How long a killed server stays down before it is started again."""
FED: tuple[PhaseKind, ...] = ("nomination", "online_study", "field_study", "return_to_post", "follow_up")
"""The phases that take files: each held open until its files are in, then closed early."""
WAIT_FOR_REMINDERS: dict[PhaseKind, tuple[str, ...]] = {
    "online_study": ("study-hours/nomination+1d", "reflection/nomination+2d")
}
"""Reminder occurrences queued before a phase's files are imported (their audience is everyone nominated)."""
HOLD = timedelta(days=365)
INFRA_PATIENCE = 1200.0
"""How long the driver goes on retrying a call that fails for a reason of the infrastructure."""
WATCH_EVERY = 2.0
SMTP_DOMAIN = "edu.example"
DISPATCH_CONNECTIONS = 4
IDENTITY = (
    "participant_id",
    "phase",
    "deliverable",
    "survey",
    "site",
    "batch",
    "rule",
    "occurrence",
    "reminder",
    "kind",
    "digest",
    "level",
    "code",
)
"""The fields that say whom and what an event is about; with its type they name it (the rest are its content)."""

Kind = Literal["worker", "postgres", "temporal"]
KINDS: tuple[Kind, ...] = ("worker", "postgres", "temporal")
T = TypeVar("T")


class RunFailed(Exception):
    """The run cannot go on; the message names what failed."""


# --- the programme ------------------------------------------------------------


def fault_programme(people: int, selected: int) -> Programme:
    """The sample programme with reminders that every run of this harness sends to the same people.

    The sample's own rules fire before a deadline or after a survey is sent; with phases held open
    and closed early, and days of 0.2 s, whether a file was in by then would be a race, and so would
    a reminder just after online study against the selection. These fire once what decides their
    audience is settled: a day or two after nomination closes (the driver imports the study records
    only once both are queued: everyone nominated is behind), and a day after return to post closes
    (its reports are all in). No quiet hours: the messages go out at whatever hour the run is made.
    """
    settings = sample_reminders(digests=False)
    rules: list[dict[str, object]] = [
        {
            "code": "study-hours",
            "template": "study-hours",
            "audience": "under_required_hours",
            "after": {"phase": "nomination", "days": [1]},
        },
        {
            "code": "reflection",
            "template": "deliverable",
            "audience": "missing_deliverable",
            "deliverable": "reflection",
            "after": {"phase": "nomination", "days": [2]},
        },
        {
            "code": "return-report",
            "template": "return-report",
            "audience": "return_report_pending",
            "after": {"phase": "return_to_post", "days": [1]},
        },
    ]
    data = sample_programme(people, selected).model_dump(mode="json")
    data["reminders"] = {**settings, "rules": rules, "quiet_hours": None}
    return Programme.model_validate(data)


# --- the servers ---------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    message_id: str
    reminder: str


class Mailbox:
    """An SMTP server's handler that keeps the Message-ID and reminder of everything it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Delivered] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = BytesParser(policy=default_policy).parsebytes(envelope.original_content or b"", headersonly=True)
        with self._lock:
            self._received.append(Delivered(str(message["Message-ID"]), str(message["X-Cohortflow-Reminder"])))
        return "250 Message accepted for delivery"

    def received(self) -> list[Delivered]:
        with self._lock:
            return list(self._received)


START_POSTGRES = """
import sys
from pathlib import Path
from cohortflow.runtime.postgres import EmbeddedPostgres
print(EmbeddedPostgres(Path(sys.argv[1]), keep_running=True).ensure_database(), flush=True)
"""
"""Started from a process of its own, which leaves it running: the wheel keeps one handle per process and
would hand back the dead server's."""


def _child_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTFLOW_")}
    env["PYTHONPATH"] = str(REPOSITORY)  # the processes run this checkout's code, as the harness does
    return env | more


class Stack:
    """One run's servers, each a process the harness can kill and start again on the same data."""

    def __init__(self, workdir: Path, task_queue: str) -> None:
        self.workdir = workdir
        self.task_queue = task_queue
        self.pg_dir = workdir / "postgres"
        self.db_file = workdir / "temporal.sqlite"
        self.uploads = workdir / "uploads"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.database_url = ""
        self.temporal: TemporalDevServer | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.dispatcher: subprocess.Popen[bytes] | None = None
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self._smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port, server_hostname="mail.test")
        self.down: set[Kind] = set()
        """What the harness has killed and not yet started again."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self.start_postgres()
        await asyncio.to_thread(upgrade, self.database_url)
        self.start_temporal()
        self._smtp.start()
        self.start_worker()
        self.start_dispatcher()

    async def stop(self) -> None:
        for process in (self.worker, self.dispatcher):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.temporal is not None:
            self.temporal.stop()
        with contextlib.suppress(Exception):
            self._smtp.stop()
        stop_postmaster(self.pg_dir)

    # PostgreSQL
    async def start_postgres(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            START_POSTGRES,
            str(self.pg_dir),
            cwd=REPOSITORY,
            env=_child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RunFailed(f"PostgreSQL did not start again: {err.decode(errors='replace')[-2000:]}")
        url = out.decode().strip().splitlines()[-1]
        if self.database_url and url != self.database_url:
            raise RunFailed(f"PostgreSQL came back at {url}, not {self.database_url}")
        self.database_url = url
        self.down.discard("postgres")

    def kill_postgres(self) -> None:
        server = postmaster(self.pg_dir)
        if server is None:
            raise RunFailed("PostgreSQL was not running when it was to be killed")
        processes = [server, *server.children(recursive=True)]
        self.down.add("postgres")
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)

    # Temporal
    def start_temporal(self) -> None:
        log = self.logs / "temporal.log"
        self.temporal = TemporalDevServer(self.db_file, port=self.port, headless=True, log_file=log)
        self.down.discard("temporal")

    def kill_temporal(self) -> None:
        pid = read_pid_file(temporal_pid_file(self.db_file.resolve()))
        if pid is None:
            raise RunFailed("the Temporal dev server's pid file is missing")
        self.down.add("temporal")
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    # the worker and the dispatcher
    def start_worker(self) -> None:
        env = _child_env(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.address,
            COHORTFLOW_TASK_QUEUE=self.task_queue,
            COHORTFLOW_LOG_FORMAT="json",
            COHORTFLOW_UPLOADS_DIR=str(self.uploads),
        )
        command = [sys.executable, "-c", "from cohortflow.cli.main import app; app()", "worker"]
        with (self.logs / "worker.log").open("ab") as out:
            self.worker = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.down.discard("worker")

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.down.add("worker")
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def start_dispatcher(self) -> None:
        env = _child_env(
            DATABASE_URL=self.database_url,
            COHORTFLOW_SMTP_HOST="127.0.0.1",
            COHORTFLOW_SMTP_PORT=str(self.smtp_port),
            COHORTFLOW_SMTP_FROM=f"peixun@{SMTP_DOMAIN}",
            COHORTFLOW_SMTP_CONNECTIONS=str(DISPATCH_CONNECTIONS),
            COHORTFLOW_EMAIL_RATE="300",
            COHORTFLOW_DISPATCH_BATCH="100",
            COHORTFLOW_DISPATCH_INTERVAL="0.2",
            COHORTFLOW_DISPATCH_LEASE_SECONDS="10",
            COHORTFLOW_LOG_FORMAT="json",
            COHORTFLOW_LOG_LEVEL="warning",
        )
        command = [sys.executable, "-m", "cohortflow.cli.reminders", "dispatch"]
        with (self.logs / "dispatcher.log").open("ab") as out:
            self.dispatcher = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=out, stderr=subprocess.STDOUT)

    async def kill(self, kind: Kind) -> None:
        {"worker": self.kill_worker, "postgres": self.kill_postgres, "temporal": self.kill_temporal}[kind]()

    async def restart(self, kind: Kind) -> None:
        if kind == "postgres":
            await self.start_postgres()
        elif kind == "temporal":
            self.start_temporal()  # blocks the loop for the server's start: nothing reaches Temporal meanwhile
        else:
            self.start_worker()

    def exited_by_itself(self) -> str | None:
        """A process that ended without being killed by the harness, named with its exit code."""
        if "worker" not in self.down and self.worker is not None and self.worker.poll() is not None:
            return f"the worker exited by itself (code {self.worker.returncode}); see {self.logs / 'worker.log'}"
        if self.dispatcher is not None and self.dispatcher.poll() is not None:
            return (
                f"the reminder dispatcher exited by itself (code {self.dispatcher.returncode}); "
                f"see {self.logs / 'dispatcher.log'}"
            )
        return None


# --- the fault plan --------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    at: float
    """Seconds into the undisturbed run's timeline."""
    kind: Kind
    down: float
    """Seconds the server stays down."""
    outage: bool = False


def plan_faults(rng: random.Random, timeline: float, kills: int, outage: float) -> list[Fault]:
    """``kills`` short kills of a random server and one long PostgreSQL outage, at random moments of the timeline."""
    faults = [
        Fault(at=rng.uniform(0.02, 0.9) * timeline, kind=rng.choice(KINDS), down=rng.uniform(*PAUSE_SECONDS))
        for _ in range(kills)
    ]
    if outage > 0:
        faults.append(Fault(at=rng.uniform(0.1, 0.8) * timeline, kind="postgres", down=outage, outage=True))
    return sorted(faults, key=lambda f: f.at)


@dataclass
class FaultRecord:
    kind: Kind
    outage: bool
    at: float
    """Seconds since the cohort started."""
    phase: str | None
    down: float
    """Seconds from the kill until the server was started again."""
    back_after: float
    """Seconds from the kill until it answered again."""


@dataclass
class StallSeen:
    first_seen: float
    """Seconds since the cohort started."""
    last_seen: float
    step: str
    attempt: int
    reason: str
    since: str
    during_outage: bool


@dataclass
class Observations:
    faults: list[FaultRecord] = field(default_factory=list)
    stalls: list[StallSeen] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    """Every state execution_of reported, and how often."""
    outage_window: tuple[float, float] | None = None
    waited_for_transitions: int = 0


# --- driving the cohort ------------------------------------------------------------


async def patiently(what: str, call: Callable[[], Awaitable[T]], *, patience: float = INFRA_PATIENCE) -> T:
    """``call`` until it answers; a failure of the infrastructure (a server being down) is retried."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await call()
        except (RunFailed, WorkflowUpdateFailedError):
            raise
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RunFailed(f"{what}: no answer within {patience:.0f} s (last: {exc!r})") from None
            await asyncio.sleep(1.0)


class Driver:
    """Feeds the cohort as an administrator would: hold a phase open, import its files, close it early."""

    def __init__(
        self,
        client: Client,
        store: EventStore,
        stack: Stack,
        cohort_id: str,
        programme: Programme,
        seed: int,
        wait_for_reminders: dict[PhaseKind, tuple[str, ...]] = WAIT_FOR_REMINDERS,
    ):
        self.client = client
        self.wait_for_reminders = wait_for_reminders
        """Reminder occurrences queued before a phase's files are imported: none for a programme without rules."""
        self.store = store
        self.stack = stack
        self.cohort_id = cohort_id
        self.feed = PhaseFeed(client, store, cohort_id, programme, seed)
        self.handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id(cohort_id))
        self.phase: str | None = None
        self.in_transition = True
        """Between an early close (or the start) and the next fed phase's extension: no kill now."""
        self.transition_over = asyncio.Event()

    def _transition(self, on: bool) -> None:
        self.in_transition = on
        if on:
            self.transition_over.clear()
        else:
            self.transition_over.set()

    async def status(self) -> CycleStatus:
        async def ask() -> CycleStatus:
            answer = await self.handle.query(CohortCycleWorkflow.status, rpc_timeout=timedelta(seconds=10))
            return CycleStatus.model_validate(answer)

        status = await patiently("the cohort's status", ask)
        self.phase = status.phase
        return status

    async def update(self, name: str, arg: Any, update_id: str, result_type: type[T], refused_again: str = "") -> T:
        """An Update under a fixed id, so a retry is the same request; ``refused_again`` names a passing refusal."""
        while True:
            try:
                return await patiently(
                    name,
                    lambda: self.handle.execute_update(
                        name, arg, id=update_id, result_type=result_type, rpc_timeout=timedelta(seconds=30)
                    ),
                )
            except WorkflowUpdateFailedError as exc:
                why = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause)
                if refused_again and refused_again in why:
                    await asyncio.sleep(0.2)
                    continue
                raise RunFailed(f"{name} {update_id} was refused: {why}") from None

    async def hold(self, phase: PhaseKind) -> None:
        """Extend the phase's deadline as soon as it is the cohort's phase."""
        while (status := await self.status()).phase != phase:
            if status.finished or (status.phase and PHASE_ORDER.index(status.phase) > PHASE_ORDER.index(phase)):
                raise RunFailed(f"{phase} closed before it could be held open (the cohort is at {status.phase})")
            await asyncio.sleep(0.05)
        assert status.deadline is not None
        req = ExtendDeadline(phase=phase, new_deadline=status.deadline + HOLD, reason="files due", actor="faults")

        async def accepted() -> None:
            await self.handle.start_update(
                CohortCycleWorkflow.extend_deadline,
                req,
                id=f"hold-{phase}",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                rpc_timeout=timedelta(seconds=30),
            )

        try:
            await patiently(f"holding {phase} open", accepted)
        except WorkflowUpdateFailedError as exc:
            why = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause)
            raise RunFailed(f"holding {phase} open was refused: {why}") from None
        self._transition(False)
        await self.update("extend_deadline", req, f"hold-{phase}", AdminOutcome)

    async def recorded(self, step: str, what: str) -> None:
        """Wait until the cohort has recorded ``step`` (one indexed lookup of its idempotency key)."""
        key = f"{workflow_id(self.cohort_id)}/{step}"
        while await patiently(what, lambda: self.store.recorded(key)) is None:
            await asyncio.sleep(0.2)

    async def files(self, phase: PhaseKind) -> list[File]:
        for occurrence in self.wait_for_reminders.get(phase, ()):
            await self.recorded(f"reminders/{occurrence}", f"the reminders {occurrence}")
        if phase == "field_study":
            await self.recorded(PLACEMENTS_STEP, "the placements")
        return list(await patiently(f"the {phase} files", lambda: self.feed.files(phase)))

    async def feed_phase(self, phase: PhaseKind) -> None:
        await self.hold(phase)
        applied = []
        for kind, content in await self.files(phase):
            digest = stage(self.stack.uploads, content)
            req = FileImport(kind=kind, digest=digest, filename=f"{phase}-{kind}.csv", actor="faults")
            outcome = await self.update("import_file", req, f"import-{phase}-{kind}", ImportOutcome)
            if outcome.status not in ("applied", "duplicate"):
                raise RunFailed(f"{phase}: the {kind} file was {outcome.status}: {outcome.problems[:3]}")
            applied.append(f"{kind} {outcome.applied:,} rows")
        self._transition(True)
        close = ClosePhase(phase=phase, reason="every file is in", actor="faults")
        await self.update("close_phase", close, f"close-{phase}", AdminOutcome)
        say(f"  {phase}: held open, imported {', '.join(applied) or 'nothing'}, closed early")

    async def drive(self) -> CohortCycleResult:
        for phase in FED:
            await self.feed_phase(phase)
        self._transition(False)
        typed = self.client.get_workflow_handle_for(CohortCycleWorkflow.run, workflow_id(self.cohort_id))
        result: CohortCycleResult = await patiently(
            "the cohort's result", lambda: typed.result(rpc_timeout=timedelta(seconds=60))
        )
        return result


# --- watching and breaking it --------------------------------------------------------


class Watcher:
    """Asks execution_of how the cohort runs, every couple of seconds; says when a stall starts and ends."""

    def __init__(self, driver: Driver, observed: Observations, started: float) -> None:
        self.driver = driver
        self.observed = observed
        self.started = started
        self.current: StallSeen | None = None
        self.outage_on = False

    def now(self) -> float:
        return time.monotonic() - self.started

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            problem = self.driver.stack.exited_by_itself()
            if problem is not None:
                raise RunFailed(problem)
            try:
                execution: Execution = await execution_of(self.driver.client, self.driver.handle.id)
            except Exception:
                continue  # Temporal, or the worker answering for it, is down
            self.observed.states[execution.state] += 1
            if execution.state in ("failed", "terminated", "timed_out", "canceled"):
                raise RunFailed(f"the cohort {execution.state}: {execution.ended_because}")
            self._stall(execution)

    def _stall(self, execution: Execution) -> None:
        stall = execution.stalled
        if stall is None:
            if self.current is not None:
                say(f"    stall over after {self.now() - self.current.first_seen:.0f} s: {self.current.step} went on")
                self.current = None
            return
        if self.current is None or self.current.step != stall.step:
            self.current = StallSeen(
                first_seen=self.now(),
                last_seen=self.now(),
                step=stall.step,
                attempt=stall.attempt,
                reason=" ".join(stall.reason.split())[:200],
                since=stall.since.isoformat(),
                during_outage=self.outage_on,
            )
            self.observed.stalls.append(self.current)
            say(
                f"    cohort stalled (state {execution.state}): {stall.step} on attempt {stall.attempt} since "
                f"{stall.since.astimezone(UTC):%H:%M:%S} UTC; last failure: {' '.join(stall.reason.split())[:120]}"
            )
        else:
            self.current.last_seen = self.now()
            self.current.attempt = stall.attempt
            self.current.during_outage = self.current.during_outage or self.outage_on


async def inject(faults: list[Fault], driver: Driver, watcher: Watcher, observed: Observations) -> None:
    """Make each fault at its moment of the timeline, in turn (at once if the one before ended past it).

    The moments are the undisturbed run's: seconds since the cohort started, less the long outage once it has
    been held (everything after it happens that much later).
    """
    stack = driver.stack
    held = 0.0
    for n, fault in enumerate(faults, 1):
        await asyncio.sleep(max(0.0, fault.at + held - watcher.now()))
        if driver.in_transition:
            observed.waited_for_transitions += 1
            await driver.transition_over.wait()
        label = "OUTAGE" if fault.outage else f"kill {n}/{len(faults)}"
        at = watcher.now()
        say(f"  {label}: SIGKILL {fault.kind} at +{at:.0f} s ({driver.phase or 'starting'}); down {fault.down:.0f} s")
        await stack.kill(fault.kind)
        if fault.outage:
            watcher.outage_on = True
            observed.outage_window = (at, at + fault.down)
            await _outage(fault.down, watcher)
        else:
            await asyncio.sleep(fault.down)
        down = watcher.now() - at
        held += down if fault.outage else 0.0
        await stack.restart(fault.kind)
        await _answering(fault.kind, driver)
        back = watcher.now() - at
        watcher.outage_on = False
        say(f"    {fault.kind} started again after {down:.1f} s, answering after {back:.1f} s")
        observed.faults.append(FaultRecord(fault.kind, fault.outage, round(at, 1), driver.phase, down, back))


async def _outage(seconds: float, watcher: Watcher) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(60.0, left))
        stalled = watcher.current
        seen = f"stalled on {stalled.step}, attempt {stalled.attempt}" if stalled else "no stall reported yet"
        say(f"    PostgreSQL down {seconds - max(left - 60.0, 0):.0f} of {seconds:.0f} s; cohort {seen}")


async def _answering(kind: Kind, driver: Driver) -> None:
    """Wait until the restarted server answers (the worker: the cohort's status query is answered)."""
    if kind == "postgres":
        await patiently("PostgreSQL", lambda: driver.store.head())
    else:
        await driver.status()


# --- one run and what it recorded -----------------------------------------------------


@dataclass
class Reminders:
    queued: int
    """Messages in the outbox (one per reminder: rule, person, occurrence)."""
    unreachable: int
    """Given up when queued: no address for the channel."""
    delivered: int
    """Messages the SMTP server accepted, copies included."""
    resent: int
    """Second copies: accepted while their ``sent`` was not yet committed, sent again under the same Message-ID."""
    problems: list[str]


@dataclass
class Outcome:
    label: str
    cohort_id: str
    seconds: float
    """From starting the cohort to its result."""
    counters: dict[str, Any]
    counts: Counter[str]
    keys: Counter[tuple[str, ...]]
    events: int
    chain_ok: bool
    chain_checked: int
    chain_breaks: list[str]
    reminders: Reminders
    observed: Observations
    planned_faults: int
    workdir: Path | None = None
    """The run's data (PostgreSQL's data directory, Temporal's SQLite file) and its servers' logs."""


def identity(event_type: str, data: dict[str, Any]) -> tuple[str, ...]:
    return (event_type, *(f"{name}={data[name]}" for name in IDENTITY if data.get(name) is not None))


async def recorded(store: EventStore) -> tuple[Counter[str], Counter[tuple[str, ...]], Counter[str], int]:
    """Events per type, per identity, ReminderSent per reminder; and ReminderGaveUp events."""
    counts: Counter[str] = Counter()
    keys: Counter[tuple[str, ...]] = Counter()
    sent: Counter[str] = Counter()
    gave_up = 0
    async for event in store.read_all():
        counts[event.type] += 1
        keys[identity(event.type, event.data)] += 1
        if event.type == "ReminderSent":
            sent[str(event.data["reminder"])] += 1
        gave_up += event.type == "ReminderGaveUp"
    return counts, keys, sent, gave_up


async def outbox(store: EventStore, cohort_id: str) -> dict[str, str]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT reminder, status FROM reminder_outbox WHERE cohort_id = %s", (cohort_id,))
        return {str(key): str(status) for key, status in await cur.fetchall()}


async def delivered(store: EventStore, stack: Stack, cohort_id: str, limit: float = 180.0) -> dict[str, str]:
    """The outbox once the dispatcher has nothing left to send (or ``limit`` passed), and the mailbox is still."""
    deadline = time.monotonic() + limit
    while True:
        rows = await patiently("the reminder outbox", lambda: outbox(store, cohort_id))
        if all(status in ("sent", "gave_up") for status in rows.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    seen = -1
    while seen != len(stack.mailbox.received()):
        seen = len(stack.mailbox.received())
        await asyncio.sleep(1.0)
    return rows


def check_reminders(
    rows: dict[str, str], sent: Counter[str], gave_up: int, mail: list[Delivered], store_id: str
) -> Reminders:
    """Exactly once as tests/reminders/test_kill.py defines it across a kill."""
    problems = []
    unsent = sorted(key for key, status in rows.items() if status not in ("sent", "gave_up"))
    if unsent:
        problems.append(f"{len(unsent)} reminders not sent (e.g. {unsent[0]}: {rows[unsent[0]]})")
    sent_rows = {key for key, status in rows.items() if status == "sent"}
    given_up = len(rows) - len(sent_rows) - len(unsent)
    if gave_up != given_up:
        problems.append(f"{gave_up} ReminderGaveUp events for {given_up} reminders given up")
    expected = {message_id(store_id, key, SMTP_DOMAIN): key for key in sent_rows}
    per_id = Counter(m.message_id for m in mail)
    missing = set(expected) - set(per_id)
    if missing:
        problems.append(f"{len(missing)} reminders never reached the SMTP server (e.g. {expected[min(missing)]})")
    foreign = [m for m in mail if expected.get(m.message_id) != m.reminder]
    if foreign:
        problems.append(f"{len(foreign)} messages under a Message-ID not their reminder's (e.g. {foreign[0]})")
    if max(per_id.values(), default=0) > 2:
        problems.append(f"a message was delivered {max(per_id.values())} times")
    wrong = {key: n for key, n in sent.items() if n != 1} | {key: 0 for key in sent_rows if key not in sent}
    if wrong:
        key = min(wrong)
        problems.append(f"{len(wrong)} reminders without exactly one ReminderSent (e.g. {key}: {wrong[key]})")
    extra = set(sent) - sent_rows
    if extra:
        problems.append(f"{len(extra)} ReminderSent events for reminders not sent")
    resent = sum(n - 1 for n in per_id.values())
    return Reminders(queued=len(rows), unreachable=given_up, delivered=len(mail), resent=resent, problems=problems)


async def run_cycle(label: str, programme: Programme, seed: int, day_seconds: float, faults: list[Fault]) -> Outcome:
    """One run of the cycle on servers of its own; their data and logs stay in ``Outcome.workdir``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"cohortflow-faults-{label}-"))
    stack = Stack(workdir, f"faults-{label}-{uuid.uuid4().hex[:6]}")
    cohort_id = f"faults-{label}"
    say(f"{label} run: servers in {workdir}")
    try:
        await stack.start()
        client = await connect_client(stack.address)
        store = await EventStore.connect(stack.database_url)
        try:
            observed = Observations()
            outcome = await _cycle(
                label, stack, client, store, cohort_id, programme, seed, day_seconds, faults, observed
            )
            outcome.workdir = workdir
            return outcome
        finally:
            await store.close()
    except BaseException:
        say(f"{label} run: logs and data kept in {workdir}")
        raise
    finally:
        await stack.stop()


async def _cycle(
    label: str,
    stack: Stack,
    client: Client,
    store: EventStore,
    cohort_id: str,
    programme: Programme,
    seed: int,
    day_seconds: float,
    faults: list[Fault],
    observed: Observations,
) -> Outcome:
    inp = CohortCycleInput(cohort_id=cohort_id, programme=programme, day_seconds=day_seconds, actor="faults")
    driver = Driver(client, store, stack, cohort_id, programme, seed)
    started = time.monotonic()
    await start_cohort(client, inp, stack.task_queue)
    watcher = Watcher(driver, observed, started)
    driving = asyncio.ensure_future(driver.drive())
    watching: asyncio.Future[None] = asyncio.ensure_future(watcher.watch())
    injecting: asyncio.Future[None] = asyncio.ensure_future(inject(faults, driver, watcher, observed))
    tasks: list[asyncio.Future[Any]] = [driving, watching, injecting]
    try:
        while not driving.done():
            await asyncio.wait([t for t in tasks if not t.done()], return_when=asyncio.FIRST_COMPLETED)
            for task in (watching, injecting):
                if task.done():
                    task.result()  # a failure found by the watcher, or a server that did not come back
        result = driving.result()
        seconds = time.monotonic() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for kind in sorted(stack.down):  # a fault under way when the cohort completed
            say(f"  {kind} started again: the cohort completed while it was down")
            await stack.restart(kind)
    say(f"{label} run: cohort completed in {seconds:.1f} s ({result.counters.completed:,} completed)")
    final = await patiently("the cohort's execution", lambda: execution_of(driver.client, driver.handle.id))
    observed.states[f"final {final.state}"] += 1
    rows = await delivered(store, stack, cohort_id)
    counts, keys, sent, gave_up = await recorded(store)
    reminders = check_reminders(rows, sent, gave_up, stack.mailbox.received(), await store.store_id())
    chain = await verify_store(store)
    return Outcome(
        label=label,
        cohort_id=cohort_id,
        seconds=seconds,
        counters=result.counters.model_dump(),
        counts=counts,
        keys=keys,
        events=sum(counts.values()),
        chain_ok=chain.ok,
        chain_checked=chain.checked,
        chain_breaks=[f"{b.kind} at {b.position}: {b.detail}" for b in chain.breaks[:5]],
        reminders=reminders,
        observed=observed,
        planned_faults=len(faults),
    )


# --- checks --------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def checks(reference: Outcome, run: Outcome, kills: int, outage: float) -> list[Check]:
    made = [f for f in run.observed.faults if not f.outage]
    outages = [f for f in run.observed.faults if f.outage]
    found: list[Check] = []
    kinds = Counter(f.kind for f in made)
    found.append(
        Check(
            "kills",
            len(made) >= kills,
            f"{len(made)} of {kills} made before the cohort completed ("
            + ", ".join(f"{kinds[k]} {k}" for k in KINDS)
            + ")",
        )
    )
    if outage > 0:
        held = outages[0].down if outages else 0.0
        stalled = [s for s in run.observed.stalls if s.during_outage]
        ok = bool(outages) and held >= outage and bool(stalled)
        seen = "no stall seen during it"
        if stalled and outages:
            first, into = stalled[0], stalled[0].first_seen - outages[0].at
            when = f"{into:.0f} s into it" if into >= 0 else f"already stalled {-into:.0f} s when it began"
            seen = f"cohort running, stalled on {first.step} ({when}; attempt {first.attempt} when last seen)"
        longer = "longer" if held > OLD_RETRY_BUDGET_SECONDS else "NOT longer"
        found.append(
            Check("outage", ok, f"PostgreSQL down {held:.0f} s ({longer} than the old budget of 451 s); {seen}")
        )
    bad_states = {s: n for s, n in run.observed.states.items() if s.split()[-1] not in ("running", "completed")}
    found.append(
        Check(
            "cohort completed",
            run.counters == reference.counters and not bad_states and run.observed.states["final completed"] == 1,
            f"counters {run.counters} (reference {reference.counters}); states seen {dict(run.observed.states)}",
        )
    )
    types = sorted(set(reference.counts) | set(run.counts))
    differ = [
        f"{t} {run.counts[t]} (reference {reference.counts[t]})" for t in types if run.counts[t] != reference.counts[t]
    ]
    found.append(
        Check(
            "events per type",
            not differ,
            "; ".join(differ) if differ else f"{len(types)} types, {run.events:,} events, as in the reference",
        )
    )
    shared = Counter({k[0]: n for k, n in reference.keys.items() if n > 1})
    lost = reference.keys - run.keys
    doubled = run.keys - reference.keys
    found.append(
        Check(
            "no event lost",
            not lost,
            f"{sum(lost.values())} missing, e.g. {sorted(lost)[:3]}" if lost else "every reference event is there",
        )
    )
    found.append(
        Check(
            "no event doubled",
            not doubled,
            (f"{sum(doubled.values())} extra, e.g. {sorted(doubled)[:3]}" if doubled else "none recorded twice")
            + (f" (events sharing a name in the reference: {dict(shared)})" if shared else ""),
        )
    )
    found.append(
        Check(
            "chain intact",
            run.chain_ok and run.chain_checked == run.events,
            f"verify_store checked {run.chain_checked:,} events: "
            + ("intact" if run.chain_ok else "; ".join(run.chain_breaks)),
        )
    )
    r = run.reminders
    found.append(
        Check(
            "reminders exactly once",
            not r.problems and r.queued == reference.reminders.queued and r.queued > 0,
            f"{r.queued} queued (reference {reference.reminders.queued}), {r.delivered} delivered, "
            f"{r.resent} resent under the same Message-ID" + (f"; {'; '.join(r.problems)}" if r.problems else ""),
        )
    )
    return found


# --- the command ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--people", type=int, default=int(os.environ.get("COHORTFLOW_FAULTS_PEOPLE", PEOPLE)), help="candidates"
    )
    parser.add_argument("--seed", type=int, default=None, help="the seed of the fault plan and the people")
    parser.add_argument("--kills", type=int, default=KILLS, help="short kills at random moments")
    parser.add_argument(
        "--outage", type=float, default=OUTAGE_SECONDS, help="seconds PostgreSQL stays down once (0: none)"
    )
    parser.add_argument("--day-seconds", type=float, default=DAY_SECONDS, help="length of a programme day")
    parser.add_argument("--report", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep each run's data and logs")
    args = parser.parse_args()
    sys.exit(asyncio.run(faults(args)))


async def faults(args: argparse.Namespace) -> int:
    # Calls to a server that is down are retried here, and said so once per kill: the SDK's and the pool's own
    # warnings about each retried call would bury the progress lines.
    quiet = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter("ERROR", "ERROR")))
    Runtime.set_default(Runtime(telemetry=quiet), error_if_already_set=False)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    selected = max(14, round(args.people * SELECTED_SHARE))
    programme = fault_programme(args.people, selected)
    say(
        f"fault run: {args.people:,} people ({selected:,} selected), seed {seed} (repeat with --seed {seed}), "
        f"{args.kills} kills, PostgreSQL outage {args.outage:.0f} s, programme day {args.day_seconds} s"
    )
    started = datetime.now(UTC)
    try:
        reference = await run_cycle("reference", programme, seed, args.day_seconds, [])
        plan = plan_faults(random.Random(seed), reference.seconds, args.kills, args.outage)
        say("fault plan: " + ", ".join(f"{f.kind}{'(outage)' if f.outage else ''}@{f.at:.0f}s" for f in plan))
        run = await run_cycle("faults", programme, seed, args.day_seconds, plan)
    except RunFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    found = checks(reference, run, args.kills, args.outage)
    say(f"undisturbed {reference.seconds:.1f} s; with faults {run.seconds:.1f} s")
    for check in found:
        say(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if args.report is not None:
        args.report.write_text(json.dumps(report(args, seed, started, reference, run, found), indent=2, default=str))
        say(f"figures written to {args.report}")
    failed = [c.name for c in found if not c.ok]
    for outcome in (reference, run):
        if failed or args.keep:
            say(f"{outcome.label} run: logs and data kept in {outcome.workdir}")
        elif outcome.workdir is not None:
            shutil.rmtree(outcome.workdir, ignore_errors=True)
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    say("every check passed")
    return 0


def report(
    args: argparse.Namespace, seed: int, started: datetime, reference: Outcome, run: Outcome, found: list[Check]
) -> dict[str, Any]:
    return {
        "started": started.isoformat(),
        "seed": seed,
        "people": args.people,
        "day_seconds": args.day_seconds,
        "kills_planned": args.kills,
        "outage_seconds": args.outage,
        "reference_seconds": round(reference.seconds, 1),
        "faults_seconds": round(run.seconds, 1),
        "events": run.events,
        "counts": dict(sorted(run.counts.items())),
        "reference_counts": dict(sorted(reference.counts.items())),
        "counters": run.counters,
        "reminders": asdict(run.reminders),
        "faults": [asdict(f) for f in run.observed.faults],
        "stalls": [asdict(s) for s in run.observed.stalls],
        "states": dict(run.observed.states),
        "waited_for_transitions": run.observed.waited_for_transitions,
        "checks": [asdict(c) for c in found],
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":
    main()
