"""The worker's log of stalls: a step failing past its third attempt, and the step that ends one.

Every attempt of a stalled step logs one warning with the cohort's workflow, the
step, its attempt, the failure and when the step was first scheduled, so a log
search finds every stalled cohort and how long it has been held up; the attempt
that succeeds logs the stall's end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from cohortflow.workflows.options import STALLED_AFTER_ATTEMPTS

log = structlog.get_logger()


class _StallLogging(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        about = {
            "workflow_id": info.workflow_id,
            "step": info.activity_type,
            "attempt": info.attempt,
            "since": info.scheduled_time.isoformat(),
        }
        try:
            result = await super().execute_activity(input)
        except ApplicationError as exc:
            if not exc.non_retryable:
                self._failed(exc, about)
            raise
        except Exception as exc:
            self._failed(exc, about)
            raise
        if info.attempt > STALLED_AFTER_ATTEMPTS:
            held = datetime.now(UTC) - info.scheduled_time
            log.info("stall ended", stalled_for_s=round(held.total_seconds()), **about)
        return result

    @staticmethod
    def _failed(exc: BaseException, about: dict[str, Any]) -> None:
        if about["attempt"] >= STALLED_AFTER_ATTEMPTS:
            log.warning("cohort stalled", reason=f"{type(exc).__name__}: {exc}", **about)


class StallLog(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StallLogging(next)
