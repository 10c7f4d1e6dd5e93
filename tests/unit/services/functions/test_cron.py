"""The connector's cron: parsing, matching, time zones and the DST policy (cronie's), ticks."""

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from services.functions import cron
from tests.support.aio import run

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> dt.datetime:
    """An aware UTC instant from 'YYYY-MM-DD HH:MM[:SS]'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def firing(expr: str, tz: dt.tzinfo, start: str, end: str, seconds=False) -> list[str]:
    """The local wall times (with offset) at which `expr` fires between two UTC instants."""
    schedule = cron.parse(expr, allow_seconds=seconds)
    t, out = at(start), []
    while t <= at(end):
        if cron.fires(schedule, t, tz):
            out.append(t.astimezone(tz).isoformat())
        t += schedule.step
    return out


def test_fields_lists_ranges_steps_and_names():
    s = cron.parse("*/15 9-17/4 1,15 JAN-mar mon-FRI")
    assert s.minutes == {0, 15, 30, 45} and s.hours == {9, 13, 17}
    assert s.days == {1, 15} and s.months == {1, 2, 3} and s.weekdays == {1, 2, 3, 4, 5}
    assert cron.parse("0 0 * * 7").weekdays == {0} == cron.parse("0 0 * * SUN").weekdays
    assert cron.parse("5/20 * * * *").minutes == {5, 25, 45}
    daily = cron.parse("@daily")
    assert (daily.minutes, daily.hours, daily.any_day, daily.any_weekday) == ({0}, {0}, True, True)
    assert cron.parse("@weekly").weekdays == {0} and cron.parse("@hourly").any_hour
    assert cron.parse("  0   3 * * *  ").expression == "0 3 * * *"


@pytest.mark.parametrize("expr, message", [
    ("0 3 * *", "five fields"),
    ("61 * * * *", "minute: 61 is out of range 0-59"),
    ("0 24 * * *", "hour: 24 is out of range 0-23"),
    ("0 0 0 * *", "day of month: 0 is out of range 1-31"),
    ("0 0 * FOO *", "month: 'FOO' is not a number or a name"),
    ("0 0 * * 1-", "day of week: '' is not a number"),
    ("*/0 * * * *", "minute: step '0' must be a positive number"),
    ("30-10 * * * *", "minute: range '30-10' goes backwards"),
    ("1,,2 * * * *", "minute: empty list item"),
    ("@reboot", "unknown macro '@reboot'"),
    ("* * * * * *", "five fields"),          # seconds only where allowed (the connector's config)
])
def test_a_bad_expression_names_its_field(expr, message):
    with pytest.raises(cron.CronError, match=message.replace("(", r"\(").replace("*", r"\*")):
        cron.parse(expr)


def test_a_leading_seconds_field_where_allowed():
    s = cron.parse("*/20 * * * * *", allow_seconds=True)
    assert s.seconds == {0, 20, 40} and s.step == dt.timedelta(seconds=1)
    assert cron.parse("0 3 * * *").step == dt.timedelta(minutes=1)
    assert firing("*/20 * * * * *", UTC, "2026-01-01 00:00:00", "2026-01-01 00:00:59",
                  seconds=True) == ["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:20+00:00",
                                    "2026-01-01T00:00:40+00:00"]


def test_both_day_fields_restricted_match_either_as_in_cron():
    s = cron.parse("0 0 13 * FRI")    # the 13th, and every Friday
    assert s.matches(dt.datetime(2026, 1, 13))          # a Tuesday, the 13th
    assert s.matches(dt.datetime(2026, 1, 16))          # a Friday
    assert not s.matches(dt.datetime(2026, 1, 14))
    only_fridays = cron.parse("0 0 * * FRI")             # a star day of month: weekday alone
    assert not only_fridays.matches(dt.datetime(2026, 1, 13))
    assert only_fridays.matches(dt.datetime(2026, 1, 16))


def test_the_schedule_is_read_in_its_time_zone():
    kathmandu = ZoneInfo("Asia/Kathmandu")               # UTC+05:45
    # 03:00 there is 21:15 UTC the day before.
    assert firing("0 3 * * *", kathmandu, "2026-06-01 00:00", "2026-06-02 00:00") == \
        ["2026-06-02T03:00:00+05:45"]
    assert cron.fires(cron.parse("0 3 * * *"), at("2026-05-31 21:15"), kathmandu)
    assert not cron.fires(cron.parse("0 3 * * *"), at("2026-06-01 03:00"), kathmandu)
    assert cron.fires(cron.parse("0 3 * * *"), at("2026-06-01 03:00"), UTC)


def test_spring_forward_a_fixed_time_in_the_gap_fires_once_right_after_it():
    # Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    assert firing("30 2 * * *", BERLIN, "2026-03-28 23:00", "2026-03-29 03:00") == \
        ["2026-03-29T03:00:00+02:00"]
    # A time that exists fires as usual that day.
    assert firing("30 3 * * *", BERLIN, "2026-03-28 23:00", "2026-03-29 03:00") == \
        ["2026-03-29T03:30:00+02:00"]


def test_spring_forward_an_every_hour_schedule_skips_the_hour_that_is_not_there():
    assert firing("30 * * * *", BERLIN, "2026-03-28 23:00", "2026-03-29 02:00") == \
        ["2026-03-29T00:30:00+01:00", "2026-03-29T01:30:00+01:00",
         "2026-03-29T03:30:00+02:00"]


def test_fall_back_a_fixed_time_fires_once_an_every_hour_one_twice():
    # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC): 02:xx twice.
    assert firing("30 2 * * *", BERLIN, "2026-10-24 23:00", "2026-10-25 03:00") == \
        ["2026-10-25T02:30:00+02:00"]
    assert firing("30 * * * *", BERLIN, "2026-10-24 23:30", "2026-10-25 02:30") == \
        ["2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00",
         "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"]


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(cron.CronError, match="'Mars/Olympus' is not an IANA time zone"):
        cron.zone("Mars/Olympus")
    with pytest.raises(cron.CronError, match="not an IANA time zone"):
        cron.zone("../etc/passwd")


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


def job(expr, tz="UTC", seconds=False):
    return cron.CronJob("f", cron.parse(expr, allow_seconds=seconds), tz)


def test_the_scheduler_evaluates_each_tick_once_even_when_the_clock_goes_back():
    clock = Clock(at("2026-01-01 00:00:30").timestamp())
    s = cron.CronScheduler([job("* * * * *")], fire=None, clock=clock)
    assert s.advance() == []                 # the first call only starts the clock
    clock.now += 30                          # 00:01:00
    assert [t.isoformat() for _, t in s.advance()] == ["2026-01-01T00:01:00+00:00"]
    assert s.advance() == []                 # the same tick: not again
    clock.now -= 120                         # set back to 23:59:00
    assert s.advance() == []
    clock.now += 180                         # 00:02:00
    assert [t.isoformat() for _, t in s.advance()] == ["2026-01-01T00:02:00+00:00"]


def test_the_scheduler_catches_up_missed_ticks_within_its_limit():
    clock = Clock(at("2026-01-01 00:00:00").timestamp())
    s = cron.CronScheduler([job("* * * * *")], fire=None, clock=clock, catch_up=180)
    s.advance()
    clock.now += 10 * 60
    assert [t.strftime("%H:%M") for _, t in s.advance()] == ["00:08", "00:09", "00:10"]


def test_the_scheduler_runs_minute_schedules_beside_second_ones():
    clock = Clock(at("2026-01-01 00:00:58").timestamp())
    s = cron.CronScheduler([job("* * * * *"), job("*/30 * * * * *", seconds=True)],
                           fire=None, clock=clock)
    assert s.step == 1
    s.advance()
    clock.now += 32
    fired = [(j.schedule.expression, t.strftime("%M:%S")) for j, t in s.advance()]
    assert fired == [("* * * * *", "01:00"), ("*/30 * * * * *", "01:00"),
                     ("*/30 * * * * *", "01:30")]


class Stop(Exception):
    pass


def test_the_scheduler_fires_each_due_job_with_its_tick():
    clock = Clock(at("2026-01-01 02:59:59").timestamp())
    fired = []

    async def sleep(seconds):
        clock.now += seconds
        if clock.now > at("2026-01-01 03:00:05").timestamp():
            raise Stop   # ends the loop

    async def fire(j, instant):
        fired.append((j.function, instant.isoformat()))

    async def scenario():
        s = cron.CronScheduler([job("0 3 * * *")], fire, clock=clock, sleep=sleep)
        with pytest.raises(Stop):
            await s.run()
        await asyncio.sleep(0)
    run(scenario())
    assert fired == [("f", "2026-01-01T03:00:00+00:00")]
