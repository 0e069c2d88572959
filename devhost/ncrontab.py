"""NCRONTAB schedules as the Functions timer trigger writes them: six fields, seconds first.

``{second} {minute} {hour} {day} {month} {day-of-week}``, each ``*``, a number, a range ``a-b``, a
list ``a,b``, or a step ``*/n`` / ``a-b/n``; day of week 0-6 from Sunday (7 is Sunday too), and
three-letter month and day names. As in cron, when both day fields are restricted a date matches
either. Times are UTC, the Functions default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names starting at `lowest`) per field.
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()),
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
)
_SEARCH_LIMIT = dt.timedelta(days=366 * 5)


class ScheduleError(ValueError):
    """The expression is not a six-field NCRONTAB schedule."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        fields = expression.split()
        if len(fields) != 6:
            raise ScheduleError(f"{expression!r}: NCRONTAB needs 6 fields (sec min hour day month dow)")
        sets = [_parse_field(text, *spec, expression) for text, spec in zip(fields, _FIELDS, strict=True)]
        weekdays = frozenset(day % 7 for day in sets[5])
        return cls(
            expression=expression,
            seconds=sets[0],
            minutes=sets[1],
            hours=sets[2],
            days=sets[3],
            months=sets[4],
            weekdays=weekdays,
            any_day=fields[3] in ("*", "?"),
            any_weekday=fields[5] in ("*", "?"),
        )

    def matches_date(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first occurrence strictly after ``moment`` (an aware datetime)."""
        start = moment.astimezone(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        day = start.date()
        while day - start.date() <= _SEARCH_LIMIT:
            if self.matches_date(day):
                found = self._first_time_on(day, start if day == start.date() else None)
                if found is not None:
                    return found
            day += dt.timedelta(days=1)
        raise ScheduleError(f"{self.expression!r} never occurs")

    def _first_time_on(self, day: dt.date, not_before: dt.datetime | None) -> dt.datetime | None:
        floor = not_before.time() if not_before is not None else dt.time(0, 0, 0)
        for hour in sorted(self.hours):
            if hour < floor.hour:
                continue
            for minute in sorted(self.minutes):
                if (hour, minute) < (floor.hour, floor.minute):
                    continue
                for second in sorted(self.seconds):
                    if (hour, minute, second) >= (floor.hour, floor.minute, floor.second):
                        return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=dt.UTC)
        return None


def _parse_field(text: str, low: int, high: int, names: tuple[str, ...], expression: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_parse_part(part, low, high, names, expression))
    return frozenset(values)


def _parse_part(part: str, low: int, high: int, names: tuple[str, ...], expression: str) -> range:
    span, _, step_text = part.partition("/")
    step = _number(step_text, names, low, expression) if step_text else 1
    if step < 1:
        raise ScheduleError(f"{expression!r}: step must be positive in {part!r}")
    if span in ("*", "?"):
        first, last = low, high
    elif "-" in span:
        start_text, _, end_text = span.partition("-")
        first, last = _number(start_text, names, low, expression), _number(end_text, names, low, expression)
    else:
        first = _number(span, names, low, expression)
        last = high if step_text else first
    if not low <= first <= last <= high:
        raise ScheduleError(f"{expression!r}: {part!r} is outside {low}-{high}")
    return range(first, last + 1, step)


def _number(text: str, names: tuple[str, ...], low: int, expression: str) -> int:
    lowered = text.strip().lower()
    if lowered in names:
        return names.index(lowered) + low
    if not lowered.isdigit():
        raise ScheduleError(f"{expression!r}: {text!r} is not a number")
    return int(lowered)
