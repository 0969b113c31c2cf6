"""Peak resident memory of this process, sampled in a background thread.

The cohort worker runs in-process, so the process's RSS while a cycle runs is
the worker's memory (plus the client and the benchmark itself, which are small).
"""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

MB = 1024 * 1024


class PeakRss:
    def __init__(self, interval: float = 0.05) -> None:
        self._interval = interval
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self.baseline = 0
        self.peak = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
