"""Timeouts and retry policy for every activity the workflows run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

# Batch activities append up to tens of thousands of events in one transaction.
ACTIVITY_TIMEOUT = timedelta(minutes=10)
# A worker that dies mid-activity is noticed within this, not after the full timeout;
# activities heartbeat while they read the stream.
HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# A programme runs for years and an outage (the database, the disk, the network) can last hours: an
# activity that fails for a reason of the infrastructure is retried without a limit, its attempts at most
# 30 s apart, so a cohort goes on at most 30 s after the outage ends. Domain refusals are raised
# non-retryable (activities.base.refusals_are_final): only they end a step for good. A step that keeps
# failing shows as stalled (services.execution) instead of ending the cohort.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
# A first retry is routine (a deploy, a blip); by the third attempt about 3 s have passed and the step is
# waiting on something that is out.
STALLED_AFTER_ATTEMPTS = 3


async def run_activity(fn: Any, arg: Any, *, heartbeats: bool = True) -> Any:
    """Run an activity method with these timeouts and this retry policy.

    An activity that does not heartbeat gets no heartbeat timeout: it would be cut off after 15 s.
    """
    return await workflow.execute_activity_method(
        fn,
        arg,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT if heartbeats else None,
        retry_policy=RETRY,
    )
