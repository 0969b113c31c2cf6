"""Quiet hours: the nightly window in the recipient's local time, and the first moment a message may go."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cohortflow.domain.quiet_hours import QuietHours

NIGHT = QuietHours()  # 21:00-08:00, across midnight
LUNCH = QuietHours(start=time(12, 0), end=time(14, 0))  # within one day
SHANGHAI, URUMQI, NEW_YORK = "Asia/Shanghai", "Asia/Urumqi", "America/New_York"
TICK = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(moment: datetime, zone: str) -> time:
    return moment.astimezone(ZoneInfo(zone)).time()


# --- the window --------------------------------------------------------------------------------


def test_the_default_window_is_21_to_8() -> None:
    assert (NIGHT.start, NIGHT.end) == (time(21, 0), time(8, 0))


def test_a_window_is_read_from_hh_mm_text_and_takes_nothing_else() -> None:
    assert QuietHours.model_validate({"start": "22:30", "end": "07:00"}) == QuietHours(
        start=time(22, 30), end=time(7, 0)
    )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        QuietHours.model_validate({"start": "22:30", "end": "07:00", "zone": "Asia/Shanghai"})


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (time(20, 59, 59, 999_999), False),
        (time(21, 0), True),  # the start belongs to the window
        (time(23, 59, 59, 999_999), True),
        (time(0, 0), True),
        (time(3, 30), True),
        (time(7, 59, 59, 999_999), True),
        (time(8, 0), False),  # the end does not
        (time(12, 0), False),
    ],
)
def test_a_window_across_midnight(at: time, quiet: bool) -> None:
    assert NIGHT.contains(at) is quiet


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (time(0, 0), False),
        (time(11, 59, 59, 999_999), False),
        (time(12, 0), True),
        (time(13, 59, 59, 999_999), True),
        (time(14, 0), False),
        (time(23, 0), False),
    ],
)
def test_a_window_within_one_day(at: time, quiet: bool) -> None:
    assert LUNCH.contains(at) is quiet


def test_a_window_ending_at_midnight_covers_the_rest_of_the_evening() -> None:
    evening = QuietHours(start=time(21, 0), end=time(0, 0))
    assert evening.contains(time(21, 0))
    assert evening.contains(time(23, 59, 59, 999_999))
    assert not evening.contains(time(0, 0))
    assert not evening.contains(time(20, 59))


def test_a_window_starting_at_midnight() -> None:
    early = QuietHours(start=time(0, 0), end=time(6, 0))
    assert early.contains(time(0, 0))
    assert not early.contains(time(6, 0))
    assert not early.contains(time(23, 59, 59, 999_999))


def test_an_empty_window_is_never_quiet() -> None:
    empty = QuietHours(start=time(8, 0), end=time(8, 0))
    assert not any(empty.contains(time(h, m)) for h in range(24) for m in (0, 30))


# --- the next allowed moment, Asia/Shanghai (UTC+8) --------------------------------------------


def test_a_moment_outside_the_window_goes_at_once() -> None:
    noon = utc(2024, 5, 1, 4, 0)  # 12:00 in Shanghai
    assert NIGHT.next_allowed(noon, SHANGHAI) is noon


def test_a_moment_in_the_evening_waits_for_the_next_morning() -> None:
    evening = utc(2024, 5, 1, 13, 30)  # 21:30 on 1 May in Shanghai
    assert NIGHT.next_allowed(evening, SHANGHAI) == utc(2024, 5, 2, 0, 0)  # 08:00 on 2 May


def test_a_moment_after_midnight_waits_for_the_same_morning() -> None:
    small_hours = utc(2024, 5, 1, 18, 0)  # 02:00 on 2 May in Shanghai
    assert NIGHT.next_allowed(small_hours, SHANGHAI) == utc(2024, 5, 2, 0, 0)


def test_exactly_at_the_start_the_window_is_closed() -> None:
    start = utc(2024, 5, 1, 13, 0)  # 21:00 in Shanghai
    assert NIGHT.next_allowed(start, SHANGHAI) == utc(2024, 5, 2, 0, 0)
    assert NIGHT.next_allowed(start - TICK, SHANGHAI) == start - TICK


def test_exactly_at_the_end_the_window_is_open_again() -> None:
    end = utc(2024, 5, 2, 0, 0)  # 08:00 in Shanghai
    assert NIGHT.next_allowed(end, SHANGHAI) == end
    assert NIGHT.next_allowed(end - TICK, SHANGHAI) == end


def test_midnight_local_time_waits_until_eight() -> None:
    midnight = utc(2024, 12, 31, 16, 0)  # 00:00 on 1 January 2025 in Shanghai
    assert NIGHT.next_allowed(midnight, SHANGHAI) == utc(2025, 1, 1, 0, 0)


def test_a_daytime_window_ends_the_same_day() -> None:
    lunch = utc(2024, 5, 1, 4, 30)  # 12:30 in Shanghai
    assert LUNCH.next_allowed(lunch, SHANGHAI) == utc(2024, 5, 1, 6, 0)  # 14:00
    assert LUNCH.next_allowed(utc(2024, 5, 1, 4, 0), SHANGHAI) == utc(2024, 5, 1, 6, 0)  # from 12:00 exactly
    assert LUNCH.next_allowed(utc(2024, 5, 1, 6, 0), SHANGHAI) == utc(2024, 5, 1, 6, 0)  # 14:00 is allowed
    assert LUNCH.next_allowed(utc(2024, 5, 1, 13, 30), SHANGHAI) == utc(2024, 5, 1, 13, 30)  # 21:30


def test_the_answer_is_in_the_time_zone_the_moment_was_given_in() -> None:
    tokyo = timezone(timedelta(hours=9))
    evening = datetime(2024, 5, 1, 22, 30, tzinfo=tokyo)  # 21:30 in Shanghai
    allowed = NIGHT.next_allowed(evening, SHANGHAI)
    assert allowed == datetime(2024, 5, 2, 9, 0, tzinfo=tokyo)
    assert allowed.tzinfo is tokyo
    assert NIGHT.next_allowed(utc(2024, 5, 1, 13, 30), SHANGHAI).tzinfo is UTC


# --- another zone ------------------------------------------------------------------------------


def test_the_window_is_in_the_recipient_s_own_zone() -> None:
    moment = utc(2024, 5, 1, 14, 30)  # 22:30 in Shanghai, 20:30 in Urumqi (UTC+6)
    assert NIGHT.next_allowed(moment, SHANGHAI) == utc(2024, 5, 2, 0, 0)
    assert NIGHT.next_allowed(moment, URUMQI) == moment
    later = utc(2024, 5, 1, 15, 0)  # 21:00 in Urumqi exactly
    assert NIGHT.next_allowed(later, URUMQI) == utc(2024, 5, 2, 2, 0)  # 08:00 in Urumqi
    assert NIGHT.next_allowed(utc(2024, 5, 2, 2, 0), URUMQI) == utc(2024, 5, 2, 2, 0)


def test_the_end_follows_a_daylight_saving_change_during_the_night() -> None:
    # New York springs forward at 02:00 on 10 March 2024: the evening is EST (UTC-5), the morning EDT (UTC-4).
    evening = utc(2024, 3, 10, 2, 0)  # 21:00 EST on 9 March
    assert NIGHT.next_allowed(evening, NEW_YORK) == utc(2024, 3, 10, 12, 0)  # 08:00 EDT
    # ...and falls back at 02:00 on 3 November 2024: the evening is EDT, the morning EST.
    evening = utc(2024, 11, 3, 1, 0)  # 21:00 EDT on 2 November
    assert NIGHT.next_allowed(evening, NEW_YORK) == utc(2024, 11, 3, 13, 0)  # 08:00 EST


def test_the_repeated_hour_of_a_fall_back_night_inside_the_default_window() -> None:
    first = utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    second = utc(2024, 11, 3, 6, 30)  # 01:30 EST, the same wall time an hour later
    assert local(first, NEW_YORK) == local(second, NEW_YORK) == time(1, 30)
    assert NIGHT.next_allowed(first, NEW_YORK) == NIGHT.next_allowed(second, NEW_YORK) == utc(2024, 11, 3, 13, 0)


def test_a_window_ending_in_the_repeated_hour_never_sends_early() -> None:
    # 21:00-01:30 in New York; on 3 November 2024 01:00-02:00 happens twice (EDT, then EST).
    window = QuietHours(start=time(21, 0), end=time(1, 30))
    second_pass = utc(2024, 11, 3, 6, 10)  # 01:10 EST, quiet
    assert window.contains(local(second_pass, NEW_YORK))
    # Actual: 05:30 UTC (01:30 EDT), 40 minutes before the moment asked about.
    assert window.next_allowed(second_pass, NEW_YORK) == utc(2024, 11, 3, 6, 30)  # 01:30 EST


# --- properties --------------------------------------------------------------------------------

_TIMES = st.times()
_MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
# Zones without daylight saving since 2000 (Asia/Shanghai last had it in 1991).
_FIXED_ZONES = st.sampled_from([SHANGHAI, URUMQI, "Asia/Kolkata", "Asia/Kathmandu", "UTC"])


def _check(window: QuietHours, moment: datetime, zone: str, longest: timedelta = timedelta(days=1)) -> datetime:
    allowed = window.next_allowed(moment, zone)
    assert allowed >= moment
    assert not window.contains(local(allowed, zone))
    assert allowed - moment < longest
    if not window.contains(local(moment, zone)):
        assert allowed == moment
    return allowed


@settings(max_examples=500)
@given(start=_TIMES, end=_TIMES, moment=_MOMENTS, zone=_FIXED_ZONES)
def test_next_allowed_is_never_quiet_never_early_and_the_first_moment_after_the_window(
    start: time, end: time, moment: datetime, zone: str
) -> None:
    window = QuietHours(start=start, end=end)
    allowed = _check(window, moment, zone)
    if allowed != moment:
        assert window.contains(local(allowed - TICK, zone)), "an earlier moment was already allowed"


@settings(max_examples=300)
@given(
    start=_TIMES,
    end=st.times(min_value=time(4, 0), max_value=time(20, 0)),
    moment=_MOMENTS,
    zone=st.sampled_from([NEW_YORK, "Europe/Berlin", "Australia/Sydney"]),
)
def test_next_allowed_with_daylight_saving_and_a_daytime_end(
    start: time, end: time, moment: datetime, zone: str
) -> None:
    # Clocks change between 01:00 and 03:00 in these zones; a window ending by day is never cut by a change,
    # though a night that falls back lasts an hour longer.
    _check(QuietHours(start=start, end=end), moment, zone, longest=timedelta(hours=25))
