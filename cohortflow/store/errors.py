"""Errors the event store raises; callers map them to retry or refusal."""

from cohortflow.domain.phrases import phrase


class StoreError(Exception):
    """Base class for event store refusals."""


class ExpectedVersionMismatch(StoreError):
    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(
            phrase(
                "stream {stream_id} is at version {actual}, expected {expected}",
                stream_id=stream_id,
                actual=actual,
                expected=expected,
            )
        )


class IdempotencyConflict(StoreError):
    """An idempotency key reused for a different batch of events."""


class UnstorableText(StoreError):
    """Text PostgreSQL cannot store (U+0000) or UTF-8 cannot encode (a lone surrogate); retrying cannot help."""
