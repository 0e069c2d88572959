import datetime as dt

import pytest

from devhost.ncrontab import Schedule, ScheduleError


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_step_in_minutes_fires_on_the_next_multiple():
    schedule = Schedule.parse("0 */5 * * * *")
    assert schedule.next_after(at("2026-03-10 10:07:30")) == at("2026-03-10 10:10:00")


def test_next_occurrence_is_strictly_after_the_given_moment():
    schedule = Schedule.parse("0 */5 * * * *")
    assert schedule.next_after(at("2026-03-10 10:10:00")) == at("2026-03-10 10:15:00")


def test_seconds_field_comes_first():
    assert Schedule.parse("*/10 * * * * *").next_after(at("2026-03-10 10:00:01")) == at("2026-03-10 10:00:10")


def test_ranges_and_lists_restrict_hours_and_weekdays():
    schedule = Schedule.parse("0 30 9-11,15 * * 1-5")  # weekdays at 9:30, 10:30, 11:30 and 15:30
    friday_evening = at("2026-03-13 16:00:00")  # a Friday
    assert schedule.next_after(friday_evening) == at("2026-03-16 09:30:00")  # Monday
    assert schedule.next_after(at("2026-03-16 11:30:00")) == at("2026-03-16 15:30:00")


def test_month_and_day_names_are_understood():
    schedule = Schedule.parse("0 0 6 * Feb Sun")
    assert schedule.next_after(at("2026-01-15 00:00:00")) == at("2026-02-01 06:00:00")  # first Sunday


def test_sunday_is_both_0_and_7():
    assert Schedule.parse("0 0 0 * * 7").weekdays == Schedule.parse("0 0 0 * * 0").weekdays == frozenset({0})


def test_restricted_day_of_month_and_weekday_match_either_as_in_cron():
    schedule = Schedule.parse("0 0 12 13 * 5")  # the 13th, or any Friday
    assert schedule.next_after(at("2026-03-01 00:00:00")) == at("2026-03-06 12:00:00")  # a Friday
    assert schedule.next_after(at("2026-03-10 00:00:00")) == at("2026-03-13 12:00:00")


def test_range_with_step():
    schedule = Schedule.parse("0 10-40/15 * * * *")
    assert sorted(schedule.minutes) == [10, 25, 40]


def test_day_that_never_comes_is_reported():
    with pytest.raises(ScheduleError, match="never occurs"):
        Schedule.parse("0 0 0 31 2 *").next_after(at("2026-01-01 00:00:00"))


@pytest.mark.parametrize(
    "expression",
    [
        "0 */5 * * *",
        "60 * * * * *",
        "0 0 25 * * *",
        "0 0 0 0 * *",
        "0 */0 * * * *",
        "0 x * * * *",
        "0 5-2 * * * *",
    ],
)
def test_malformed_schedules_are_refused(expression):
    with pytest.raises(ScheduleError):
        Schedule.parse(expression)
