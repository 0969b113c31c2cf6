"""Progress lines while a long benchmark runs: the parts take minutes each."""

from __future__ import annotations

import sys
import time

_STARTED = time.monotonic()


def say(message: str) -> None:
    """One timestamped line on stdout, flushed at once so a background run can be followed."""
    elapsed = time.monotonic() - _STARTED
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed:7.1f}s] {message}", file=sys.stdout, flush=True)
