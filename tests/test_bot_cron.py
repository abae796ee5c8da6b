"""Cron-like jobs: the line's grammar, the next firing time (time zones, both day fields, DST), registration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from whatsapp.bot import Router
from whatsapp.bot.cron import CronSpec
from whatsapp.bot.schedule import JobContext

MONDAY_0859 = datetime(2026, 11, 30, 8, 59, 30, tzinfo=UTC)  # a Monday


def test_fields_ranges_steps_and_aliases() -> None:
    spec = CronSpec.parse("*/15 9-17/4 1,15 * 1-5")
    assert spec.minutes == {0, 15, 30, 45} and spec.hours == {9, 13, 17} and spec.days == {1, 15}
    assert spec.weekdays == {1, 2, 3, 4, 5} and spec.months == set(range(1, 13))
    assert CronSpec.parse("5/20 * * * 7").minutes == {5, 25, 45}
    assert CronSpec.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    daily, midnight = CronSpec.parse("@daily"), CronSpec.parse("0 0 * * *")
    assert (daily.minutes, daily.hours, daily.days, daily.months, daily.weekdays) == (
        midnight.minutes, midnight.hours, midnight.days, midnight.months, midnight.weekdays)


@pytest.mark.parametrize("line", ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *",
                                  "a * * * *", "5-1 * * * *", "* * * 13 *", "* * * * 8"])
def test_bad_lines_are_refused_with_the_field_named(line: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        CronSpec.parse(line)


def test_next_firing_time() -> None:
    weekdays_at_nine = CronSpec.parse("0 9 * * 1-5")
    assert weekdays_at_nine.next_after(MONDAY_0859, UTC) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    at_nine = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # strictly after: the next one is Tuesday
    assert weekdays_at_nine.next_after(at_nine, UTC) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert weekdays_at_nine.next_after(friday, UTC) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday
    # Both day fields restricted: either fires (the 1st, or any Sunday), as cron does.
    either = CronSpec.parse("0 0 1 * 0")
    assert either.next_after(MONDAY_0859, UTC) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert either.next_after(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), UTC) == datetime(2026, 12, 6, tzinfo=UTC)
    leap = CronSpec.parse("0 12 29 2 *")
    assert leap.next_after(MONDAY_0859, UTC) == datetime(2028, 2, 29, 12, 0, tzinfo=UTC)


def test_time_zones_and_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    nine = CronSpec.parse("0 9 * * *")
    fire = nine.next_after(MONDAY_0859, berlin)  # 08:59 UTC is 09:59 in Berlin: tomorrow 09:00 local
    assert fire == datetime(2026, 12, 1, 9, 0, tzinfo=berlin) and fire.utcoffset() == timedelta(hours=1)
    gap = CronSpec.parse("30 2 * * *")  # 02:30 does not exist in Berlin on 29 March 2026
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert gap.next_after(before, berlin) == datetime(2026, 3, 30, 2, 30, tzinfo=berlin)


def test_router_cron_registers_a_job_and_refuses_a_line_that_never_fires() -> None:
    router = Router(name="t")

    @router.cron("*/5 * * * *", name="five")
    async def five(job: JobContext) -> None:
        pass

    (job,) = router.jobs
    assert job.name == "five" and job.cron is not None
    delay = job.delay(datetime(2026, 11, 30, 8, 58, 0, tzinfo=UTC), first=True)
    assert delay == 120.0  # the next multiple of five minutes, however the job was registered
    with pytest.raises(ValueError, match="never fires"):
        router.cron("0 0 31 2 *")
