"""Cron schedules, evaluated tick by tick in an IANA time zone (stdlib only: zoneinfo).

Expressions are Vixie cron's five fields (minute hour day-of-month month day-of-week: `*`,
lists, ranges, steps, JAN-DEC and SUN-SAT names, 7 = Sunday) or one of @yearly @annually
@monthly @weekly @daily @midnight @hourly. When both day fields are restricted a day matches
either, as in cron. The connector's config also takes a sixth, leading seconds field
(`S M H DOM MON DOW`, as Quartz and robfig/cron write it); the spec keeps to standard cron.

Time zones and clock changes, as Vixie cron / cronie handle them:
- a wall time skipped by a jump forward (spring, Europe/Berlin 02:00-02:59) still fires once,
  at the first tick after the jump, for a schedule with a fixed hour ("30 2 * * *" fires at
  03:00); a schedule whose hour is `*` (or `*/n`) just fires at the wall times that exist;
- a wall time that happens twice (autumn, 02:00-02:59 again) fires once for a fixed-hour
  schedule (the first time), both times for an every-hour one.

The connector wakes at every tick (each minute; each second when a schedule has seconds)
and asks `fires` for each schedule: no "next run" search, so rare schedules cost nothing more
than frequent ones. Why not croniter or cronsim from PyPI: neither is in
requirements-services.lock, adding one means re-locking both locks with uv for every
platform, and the DST policy above is ours to choose anyway; this parser is small and tested
(tests/unit/services/functions/test_cron.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTHS = {n: i for i, n in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
DAYS = {n: i for i, n in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# (name, lowest, highest, names)
SECOND = ("second", 0, 59, {})
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
          ("month", 1, 12, MONTHS), ("day of week", 0, 7, DAYS))
# A jump forward longer than this is a clock being set, not a time zone's change: the wall
# times it skipped are not caught up (Vixie cron's limit).
MAX_GAP = dt.timedelta(hours=3)
UTC = dt.timezone.utc


class CronError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Berlin), or a CronError saying it is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"{name!r} is not an IANA time zone (like UTC or Europe/Berlin)") from None


def _value(text: str, name: str, lo: int, hi: int, names: dict) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"{name}: {text!r} is not a number"
                        + (f" or a name ({'/'.join(names)})" if names else ""))
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{name}: {value} is out of range {lo}-{hi}")
    return value


def parse_field(text: str, name: str, lo: int, hi: int, names: dict) -> frozenset[int]:
    """One field ("*/15", "1-5", "MON,WED", "0-30/10", "5/20") -> the values it matches."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{name}: empty list item in {text!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            if first > last:
                raise CronError(f"{name}: range {base!r} goes backwards")
        else:
            first = _value(base, name, lo, hi, names)
            last = hi if slash else first   # "5/20": from 5 on, every 20
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _unrestricted(text: str) -> bool:
    """Cron's "star" fields: `*` or `*/n` (the day fields' OR rule, the hour's DST rule)."""
    return text.startswith("*")


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: Optional[frozenset[int]]   # None: a five-field schedule, at second 0
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]            # 0 = Sunday
    any_day: bool
    any_weekday: bool
    any_hour: bool

    @property
    def step(self) -> dt.timedelta:
        """How often the schedule is looked at: its finest field."""
        return dt.timedelta(seconds=1 if self.seconds is not None else 60)

    def matches(self, wall: dt.datetime) -> bool:
        """Whether the wall time (naive, in the schedule's zone) is one of the schedule's."""
        second_ok = wall.second in self.seconds if self.seconds is not None else wall.second == 0
        if not second_ok:
            return False
        if wall.minute not in self.minutes or wall.hour not in self.hours \
                or wall.month not in self.months:
            return False
        day = wall.day in self.days
        weekday = (wall.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday


def parse(expression: str, allow_seconds: bool = False) -> Schedule:
    """A cron expression -> Schedule; CronError names the field at fault."""
    text = " ".join(expression.split())
    fields = MACROS.get(text.lower(), text).split()
    if text.startswith("@") and text.lower() not in MACROS:
        raise CronError(f"unknown macro {text!r} (one of {', '.join(MACROS)})")
    if len(fields) == 6 and allow_seconds:
        seconds = parse_field(fields[0], *SECOND)
        fields = fields[1:]
    elif len(fields) == 5:
        seconds = None
    else:
        wanted = "five fields (or six, seconds first)" if allow_seconds else "five fields"
        raise CronError(f"a cron schedule has {wanted} like '0 3 * * *', got {expression!r}")
    minutes, hours, days, months, weekdays = (parse_field(f, *spec)
                                              for f, spec in zip(fields, FIELDS, strict=True))
    weekdays = frozenset(d % 7 for d in weekdays)
    return Schedule(text, seconds, minutes, hours, days, months, weekdays,
                    any_day=_unrestricted(fields[2]), any_weekday=_unrestricted(fields[4]),
                    any_hour=_unrestricted(fields[1]))


def _wall(instant: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def fires(schedule: Schedule, instant: dt.datetime, tz: dt.tzinfo) -> bool:
    """Whether the schedule fires at `instant` (aware; a tick of the schedule's step)."""
    local = instant.astimezone(tz)
    if local.fold and not schedule.any_hour:
        return False   # this wall time came once already, and fired then
    wall = local.replace(tzinfo=None, fold=0)
    if schedule.matches(wall):
        return True
    if schedule.any_hour:
        return False
    # A jump forward just before this tick: the wall times it skipped fire now.
    step = schedule.step
    before = _wall(instant - step, tz)
    if not step < wall - before <= MAX_GAP:
        return False
    skipped = before + step
    while skipped < wall:
        if schedule.matches(skipped):
            return True
        skipped += step
    return False


@dataclass(frozen=True)
class CronJob:
    """One schedule of one function, in its time zone."""
    function: str
    schedule: Schedule
    timezone: str
    asynchronous: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


def _floor(seconds: float, step: int) -> int:
    return int(seconds // step) * step


class CronScheduler:
    """Wakes at every tick and fires the jobs due then (`fire(job, instant)`, each a task of
    its own so a slow function delays no other). Ticks are never evaluated twice: a clock set
    back fires nothing until it passes the last tick again; a clock that jumped ahead (or a
    loop that slept through) catches up at most `catch_up` seconds of ticks."""

    def __init__(self, jobs: Sequence[CronJob], fire: Callable[[CronJob, dt.datetime], Awaitable],
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable] = asyncio.sleep, catch_up: int = 300):
        self.jobs = list(jobs)
        self.zones = {j.timezone: j.tz for j in self.jobs}
        self.fire, self.clock, self.sleep, self.catch_up = fire, clock, sleep, catch_up
        self.step = 1 if any(j.schedule.seconds is not None for j in self.jobs) else 60
        self.last: Optional[int] = None   # the last tick evaluated (epoch seconds)
        self._tasks: set[asyncio.Task] = set()

    def due(self, after: int, until: int) -> list[tuple[CronJob, dt.datetime]]:
        """The (job, tick) pairs of the ticks in (after, until]."""
        out = []
        tick = _floor(after, self.step) + self.step
        while tick <= until:
            instant = dt.datetime.fromtimestamp(tick, UTC)
            for job in self.jobs:
                if tick % int(job.schedule.step.total_seconds()) == 0 and \
                        fires(job.schedule, instant, self.zones[job.timezone]):
                    out.append((job, instant))
            tick += self.step
        return out

    def advance(self) -> list[tuple[CronJob, dt.datetime]]:
        """Evaluate the ticks up to now (none before the first call: it only starts the clock)."""
        now = _floor(self.clock(), self.step)
        if self.last is None:
            self.last = now
            return []
        if now <= self.last:
            return []
        after = self.last
        if now - after > self.catch_up:
            log.warning("the clock moved %ds ahead: cron ticks before the last %ds are skipped",
                        now - after, self.catch_up)
            after = now - self.catch_up
        self.last = now
        return self.due(after, now)

    async def run(self) -> None:
        if not self.jobs:
            return
        self.advance()
        while True:
            wait = (self.last + self.step) - self.clock()
            if wait > 0:
                await self.sleep(wait)
            for job, instant in self.advance():
                task = asyncio.ensure_future(self.fire(job, instant))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
