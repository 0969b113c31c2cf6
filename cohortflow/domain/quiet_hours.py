"""Quiet hours: no message reaches a person between, say, 21:00 and 08:00 their time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict


class QuietHours(BaseModel):
    """A nightly window in the recipient's local time; ``start`` after ``end`` spans midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime, time_zone: str) -> datetime:
        """``moment`` itself when it is outside the window, else the window's end (in UTC)."""
        zone = ZoneInfo(time_zone)
        local = moment.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return moment
        # The first end after the moment: today's (either pass of an hour the clocks repeat) or tomorrow's.
        for day in (local.date(), local.date() + timedelta(days=1)):
            for fold in (0, 1):
                end = datetime.combine(day, self.end, tzinfo=zone).replace(fold=fold)
                if end > moment:
                    return end.astimezone(moment.tzinfo)
        raise AssertionError("a quiet window ends within a day")
