"""Timeouts and retry policy for every activity the workflows run."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Batch activities append up to tens of thousands of events in one transaction.
ACTIVITY_TIMEOUT = timedelta(minutes=10)
# A worker that dies mid-activity is noticed within this, not after the full timeout;
# activities heartbeat while they read the stream.
HEARTBEAT_TIMEOUT = timedelta(seconds=15)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)
