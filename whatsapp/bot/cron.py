"""Cron-like schedules for `@router.cron("30 9 * * 1-5")`: pure parsing and the next firing time.

Five fields, as crontab(5): minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week
(0-6, Sunday 0; 7 is Sunday too). Each field is `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or
`a/n` (from a to the field's end), or a comma list of those; `@hourly`, `@daily` (`@midnight`), `@weekly`,
`@monthly` and `@yearly` (`@annually`) stand for their usual lines. When both day fields are restricted a
day matching either fires, as cron does. Times are wall-clock times in the job's time zone (UTC unless
given); a time skipped by a daylight-saving jump does not fire that day, one repeated fires once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

ALIASES = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
HORIZON_DAYS = 4 * 366 + 1  # every day-of-month/month combination that can occur (29 February) comes by then


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        spec, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if spec == "*":
                start, end = low, high
            elif "-" in spec:
                first, _, last = spec.partition("-")
                start, end = int(first), int(last)
            else:
                start = int(spec)
                end = high if step_text else start
        except ValueError:
            raise ValueError(f"cron {name}: {item!r} is not a number, range or step") from None
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"cron {name}: {item!r} is outside {low}-{high} or has a bad step")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronSpec:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # Sunday 0
    any_day: bool  # the day-of-month field was `*`
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSpec:
        line = ALIASES.get(text.strip().lower(), text)
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"cron: {text!r} needs five fields (minute hour day month weekday) or an @alias")
        minutes, hours, days, months, weekdays = (
            _field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS, strict=True))
        return cls(text, minutes, hours, days, months, frozenset(d % 7 for d in weekdays),
                   parts[2].startswith("*"), parts[4].startswith("*"))

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # one of them is `*`: the other decides (both `*`: every day)
            return by_date and by_weekday
        return by_date or by_weekday

    def next_after(self, now: datetime, tz: tzinfo) -> datetime:
        """The first firing time strictly after `now` (any aware datetime), as an aware time in `tz`."""
        local = now.astimezone(tz)
        start = local.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for offset in range(HORIZON_DAYS):
            candidate_day = day + timedelta(days=offset)
            if not self.day_matches(candidate_day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    wall = candidate_day.replace(hour=hour, minute=minute)
                    if wall < start:
                        continue
                    fire = wall.replace(tzinfo=tz)
                    if fire.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:  # no DST gap
                        return fire
        raise ValueError(f"cron {self.text!r} never fires")  # e.g. 31 February
