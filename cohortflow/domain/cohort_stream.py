"""The name of a cohort's event stream, which is also its workflow's id.

One name for both lets an auditor go from a history to its workflow (and back)
without a lookup table.
"""

COHORT_STREAM_PREFIX = "cohort-"


def cohort_stream(cohort_id: str) -> str:
    return f"{COHORT_STREAM_PREFIX}{cohort_id}"
