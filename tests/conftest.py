"""Test services, started by the tests themselves: real PostgreSQL and real Temporal.

One embedded PostgreSQL serves the session; every test gets its own database,
cloned from a migrated template. Every workflow test gets its own time-skipping
Temporal test server (it starts in a tenth of a second): the server keeps every
workflow it ever ran in memory, and a long skip fires the timers of all of them,
so a server shared by the whole session slowed down and finally stopped
answering. A module-scoped fixture that runs one cohort for many tests has its
own server for the module.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
import structlog
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.runtime.temporal import TemporalDevServer, installed_binary
from cohortflow.store.eventstore import EventStore
from cohortflow.store.migrate import upgrade
from tests.store_outage import Outage, Unreachable

TEMPLATE = "cohortflow_template"


@pytest.fixture(autouse=True)
def logs_to_the_process_stderr() -> Iterator[None]:
    """Logs go to the process's own stderr before and after every test.

    A CLI command run in a test configures logging onto the runner's captured
    stream, which closes with the command; a later test's activity logging there
    would fail with "I/O operation on closed file".
    """
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))
    yield
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", delete_on_stop=True)
    upgrade(server.ensure_database(TEMPLATE))
    yield server
    server.stop()


def fresh_database(postgres: EmbeddedPostgres) -> str:
    """A new, migrated database cloned from the template, with a store identity of its own."""
    url = postgres.ensure_database(f"t_{uuid.uuid4().hex[:12]}", template=TEMPLATE)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # the identity row is guarded like events
        conn.execute("DELETE FROM store_identity")
        conn.execute("INSERT INTO store_identity DEFAULT VALUES")
    return url


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> str:
    """A fresh database for this test alone."""
    return fresh_database(postgres)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    store = await EventStore.connect(database_url)
    yield store
    await store.close()


@pytest.fixture
def superuser(database_url: str) -> Iterator[psycopg.Connection]:
    """A superuser connection that bypasses the append-only guard, as an attacker could."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # disables ordinary triggers
        yield conn


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    """An outage of this test's store, begun and ended by the test."""
    found = Outage(database_url)
    yield found
    found.close()


@pytest.fixture
def unreachable(database_url: str) -> Iterator[Unreachable]:
    """This test's database refusing connections, from the test's ``begin`` to its ``end`` (ended at teardown)."""
    found = Unreachable(database_url)
    yield found
    found.end()
    found.close()


@pytest.fixture
def dev_server() -> Iterator[TemporalDevServer]:
    """Temporal's dev server for this test alone: its clock is real and it has Schedules and visibility."""
    server = TemporalDevServer(None, headless=True)
    yield server
    server.stop()


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping Temporal test server for this test alone."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture(scope="module")
async def module_time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping Temporal test server for one module's shared cohort."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def histories_dir() -> Path:
    return Path(__file__).parent / "histories"
