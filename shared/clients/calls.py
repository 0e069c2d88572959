"""The budget of one operation: a deadline every call inside it ends by, and a count of the calls.

A route answers within :data:`HTTP_ROUTE_DEADLINE` (under Azure's 230 s) and a queue step runs
within :data:`QUEUE_STEP_DEADLINE`; every call to Microsoft made inside ``with deadline(seconds):``
has its timeouts capped to the time left, and raises :class:`~shared.clients.errors.DeadlineExceededError`
(a retry-later) rather than start when none is left. The count feeds each transfer's ``apiCalls``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from shared.clients.errors import CallIds, DeadlineExceededError

# Longest Retry-After honoured (a day): anything longer, ``inf`` included, is read as this. Waits
# beyond the queue's 7-day visibility limit come from the timer, never from one answer.
MAX_RETRY_AFTER = 86_400.0


# Shortest wait put on a DeadlineExceededError, so a caller never retries in a tight loop.
MIN_RETRY_LATER = 1.0


# Operation deadlines, per trigger (seconds). Azure ends an HTTP-triggered function's answer at
# 230 s, so a route stops its upstream calls well before; a queue step must finish inside the
# 10-minute functionTimeout with time to record what happened.
HTTP_ROUTE_DEADLINE = 200.0


QUEUE_STEP_DEADLINE = 540.0


_DEADLINE: ContextVar[float | None] = ContextVar("operation_deadline", default=None)


CALLS_MADE: ContextVar[list[int] | None] = ContextVar("calls_made", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every call made inside ends within ``seconds`` (on this thread's context).

    Attempts and retry sleeps that would end past it are not started, read timeouts shrink to the
    time left, token acquisition too; when it runs out the call raises
    :class:`~shared.errors.DeadlineExceededError` (a ``RetryLaterError``: re-enqueue, or answer 503
    with ``Retry-After``). A nested deadline can shorten the outer one, never extend it. Use
    :data:`HTTP_ROUTE_DEADLINE` for a route and :data:`QUEUE_STEP_DEADLINE` for a queue step.
    """
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"a deadline is a positive, finite number of seconds; got {seconds!r}")
    ends = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextmanager
def counting_calls() -> Iterator[None]:
    """Count the requests sent to Partner Center and Graph inside the block (retries included)."""
    token = CALLS_MADE.set([0])
    try:
        yield
    finally:
        CALLS_MADE.reset(token)


def take_call_count() -> int:
    """The requests sent since the last take, inside :func:`counting_calls`; 0 outside it."""
    counted = CALLS_MADE.get()
    if counted is None:
        return 0
    taken, counted[0] = counted[0], 0
    return taken


def time_left() -> float | None:
    """Seconds until the current deadline (negative once past), or ``None`` outside any."""
    ends = _DEADLINE.get()
    return None if ends is None else ends - time.monotonic()


def call_timeouts(connect: float, read: float, *, what: str, service: str) -> tuple[float, float]:
    """The connect and read timeouts for one request, capped to the time left before the deadline."""
    left = time_left()
    if left is None:
        return connect, read
    if left <= 0:
        raise deadline_exceeded(
            f"{what}: the operation's deadline ran out before the request", service=service
        )
    return min(connect, left), min(read, left)


def deadline_exceeded(
    message: str, *, service: str, ids: CallIds | None = None, wait: float = 0.0
) -> DeadlineExceededError:
    return DeadlineExceededError(
        message,
        service=service,
        code="deadline_exceeded",
        ids=ids or CallIds(),
        retry_after=max(MIN_RETRY_LATER, min(wait, MAX_RETRY_AFTER)),
    )
