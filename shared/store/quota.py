"""A call quota shared by every host: one token bucket kept in one Table entity.

Partner Center allows 500 requests per minute per partner tenant (Learn, "API throttling guidance for
partners calling Partner Center APIs"); every host of the app spends the same quota. Meeting it as
429s costs a call each and comes in bursts (a thousand acceptances arriving at once). So each host
takes a token here before each call instead, and the quota sets the pace.

The one design: a token bucket (``calls`` tokens at most, refilled at ``calls / seconds`` a second, the
shape the service's own limiter has) in one entity of the transfers table, PartitionKey ``quota``,
RowKey the quota's name; its ``Tokens`` and the time they were counted (``CountedAt``, seconds since
the epoch, wall clock: shared by the hosts). It is only ever changed by an ETag-conditional write
(an insert when it does not exist yet), so two hosts can never spend the same token: the loser of a
race reads the entity again and retries. A host keeps the entity and ETag it last wrote, so a take
normally costs one transaction; a read only follows a lost race.

A host that calls often reserves several calls in that one transaction (as many as it asked for in
the last :data:`DEMAND_SECONDS`, at most :data:`MAX_BLOCK`) and spends them without asking storage
again: a transfer's burst of calls (a catalog's pages, a fleet's acceptances) costs one transaction
per block, not per call. Each reserved call keeps the moment the bucket would have let it go, so
spending from the block paces exactly as taking one at a time would; a reserved call not made within
:data:`HOLD_SECONDS` of that moment is let go unmade (the bucket counted it: the hosts together only
ever call less than the quota, never more).

A take may reserve a token a little ahead: the bucket goes below zero by at most ``horizon`` seconds
of refill, and the caller waits that long (a short wait, as for a short ``Retry-After``) before it
calls. Beyond the horizon nothing is taken and the caller is told when to come back: a queue step is
then put back on the queue with that visibility delay, not failed. When storage does not answer
(asked once, no retries), calls go unpaced for :data:`UNPACED_SECONDS` (the service's own 429s stay
handled), so pacing never stops the work, nor slows a tool run without storage.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

if TYPE_CHECKING:
    from azure.data.tables import TableClient

LOG = logging.getLogger(__name__)
QUOTA_PARTITION = "quota"
_QUOTA = re.compile(r"([0-9]{1,7})/([0-9]{1,5}(?:\.[0-9]{1,3})?)")
_RACES = 5  # lost races in a row before a take gives up and says "soon"
UNPACED_SECONDS = 30.0
#: The most calls one transaction reserves for this host, and the look back that sizes a block.
MAX_BLOCK = 8
DEMAND_SECONDS = 1.0
#: How long after its moment a reserved call this host did not make is kept before it is let go.
HOLD_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Quota:
    """``calls`` per ``seconds``, e.g. Partner Center's 500 per 60."""

    calls: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @classmethod
    def parse(cls, text: str) -> Quota | None:
        """``"500/60"`` (calls per seconds, ASCII digits), or None when it is not that."""
        found = _QUOTA.fullmatch(text.replace(" ", ""))
        if found is None:
            return None
        quota = cls(int(found[1]), float(found[2]))
        return quota if quota.calls > 0 and 0 < quota.seconds <= 86_400 else None

    def __str__(self) -> str:
        return f"{self.calls}/{self.seconds:g}"


#: The settings and their defaults: Partner Center's 500 requests per minute per partner tenant
#: (Learn, "API throttling guidance for partners calling Partner Center APIs") and Graph's 3,000
#: identity and access writes per 150 s per app and tenant (Learn, "Microsoft Graph
#: service-specific throttling limits").
PARTNER_CENTER = Quota(500, 60.0)
GRAPH_WRITES = Quota(3000, 150.0)
QUOTA_SETTINGS = (("PARTNER_CENTER_QUOTA", PARTNER_CENTER), ("GRAPH_WRITE_QUOTA", GRAPH_WRITES))


class Turn(NamedTuple):
    """A take's answer: wait ``wait`` seconds, then call (``granted``); or nothing was taken and the
    caller comes back after ``wait``."""

    wait: float
    granted: bool


class _Seen(NamedTuple):
    tokens: float
    counted_at: float
    etag: str


class SharedQuota:
    """One quota's bucket in storage (see the module docstring), taken a block of calls at a time."""

    def __init__(
        self,
        table: TableClient,
        name: str,
        quota: Quota,
        *,
        horizon: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._name = name
        self.quota = quota
        self._horizon = horizon
        self._clock = clock
        self._seen: _Seen | None = None
        self._unpaced_until = 0.0
        self._lock = threading.Lock()  # this host's takers in turn: they never race each other
        self._block: deque[float] = deque()  # the moments of the calls reserved and not made yet
        self._asked: deque[tuple[float, int]] = deque()  # this host's takes of the last DEMAND_SECONDS

    def take(self, count: int = 1) -> Turn:
        """Reserve ``count`` calls (see the module docstring)."""
        with self._lock:
            now = self._clock()
            if now < self._unpaced_until:
                return Turn(0.0, True)
            demand = self._demand(now, count)
            while self._block and self._block[0] + HOLD_SECONDS < now:
                self._block.popleft()  # reserved and never made: let go
            if len(self._block) >= count:
                moments = [self._block.popleft() for _ in range(count)]
                return Turn(max(0.0, moments[-1] - now), True)
            try:
                return self._take(count, max(count, min(MAX_BLOCK, demand)))
            except AzureError as error:  # storage is down: the call goes, the service still says 429
                LOG.warning("quota %s: storage did not answer (%s); calling unpaced", self._name, error)
                self._seen, self._unpaced_until = None, self._clock() + UNPACED_SECONDS
                self._block.clear()
                return Turn(0.0, True)

    def _demand(self, now: float, count: int) -> int:
        """The calls this host asked for over the last :data:`DEMAND_SECONDS`, this take's included."""
        self._asked.append((now, count))
        while self._asked[0][0] + DEMAND_SECONDS < now:
            self._asked.popleft()
        return sum(n for _, n in self._asked)

    def _take(self, count: int, block: int) -> Turn:
        """Reserve ``block`` calls in one write (fewer if the later ones would wait beyond the
        horizon, never fewer than ``count``): the first ``count`` are this take's, the rest kept."""
        rate, full = self.quota.rate, float(self.quota.calls)
        for _ in range(_RACES):
            now = self._clock()
            seen = self._seen or self._read()
            level = full if seen is None else min(full, seen.tokens + max(0.0, now - seen.counted_at) * rate)
            # the n-th call of the block goes when the bucket has refilled to n
            fits = int((level + self._horizon * rate) // 1)
            reserved = max(count, min(block, fits))
            moments = [now + max(0.0, n - level) / rate for n in range(1, reserved + 1)]
            wait = moments[count - 1] - now
            if wait > self._horizon:  # a stale view only overstates the tokens: refusing is safe
                return Turn(wait - self._horizon, False)
            try:
                self._seen = self._write(level - reserved, now, seen)
            except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
                self._seen = None  # another host took first: read it again
                continue
            self._block.extend(moments[count:])
            return Turn(wait, True)
        return Turn(1.0, False)

    def _read(self) -> _Seen | None:
        try:
            entity = self._table.get_entity(QUOTA_PARTITION, self._name)
        except ResourceNotFoundError:
            return None
        return _Seen(float(entity["Tokens"]), float(entity["CountedAt"]), str(entity.metadata["etag"]))

    def _write(self, tokens: float, at: float, seen: _Seen | None) -> _Seen:
        entity = {"PartitionKey": QUOTA_PARTITION, "RowKey": self._name, "Tokens": tokens, "CountedAt": at}
        if seen is None:
            try:
                written = self._table.create_entity(entity)
            except ResourceNotFoundError:  # no table yet (a tool run before the app made it)
                with suppress(ResourceExistsError):
                    self._table.create_table()
                written = self._table.create_entity(entity)
        else:
            written = self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=seen.etag, match_condition=MatchConditions.IfNotModified
            )
        return _Seen(tokens, at, str(written["etag"]))
