"""Knobs: behaviour the control API switches on to make the sandbox throttle, fail, lag or slow down."""

from __future__ import annotations

import copy
import itertools
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULTS: dict[str, Any] = {
    "idempotency": True,
    "latency_ms": 0,
    "rate_limits": {"partner_center": None, "graph": None, "graph_writes": None},
    "consistency_lag": {"seconds": 0.0, "requests": 0},
    "graph_page_size": 100,
    "customers_page_size": 100,
    "token_lifetime_s": 3600,
    "provisioning_delay_s": 0,
    "group_license_delay_s": 2,
    "access_assignment_activation_s": 0,
    "validation_events_per_minute": 2,
    "webhook": {"max_attempts": 10, "backoff_s": 0.5, "timeout_s": 10.0},
}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``patch`` into a copy of ``base``; unknown keys are refused so typos fail loudly."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if key not in out:
            raise KeyError(key)
        if isinstance(out[key], dict) and isinstance(value, dict) and key != "rate_limits":
            out[key] = merge(out[key], value)
        elif key == "rate_limits" and isinstance(value, dict):
            for service, limit in value.items():
                if service not in out[key]:
                    raise KeyError(f"rate_limits.{service}")
                out[key][service] = limit
        else:
            out[key] = value
    return out


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets keyed per tenant (or partner + customer), as Partner Center documents its limits."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self.refused: Counter[str] = Counter()
        """429s answered per limit (``partner_center``, ``graph``, ``graph_writes``), $batch members too."""

    def reset(self) -> None:
        self._buckets.clear()
        self.refused.clear()

    def take(self, key: tuple[str, ...], limit: int, window_s: float) -> int | None:
        """Take one request from the bucket; return ``Retry-After`` seconds when it is empty."""
        rate = limit / window_s
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(float(limit), now))
        bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        self.refused[key[0]] += 1
        return max(1, math.ceil((1 - bucket.tokens) / rate))


FAULT_KINDS = ("status", "error", "delay", "drop", "drop_after_commit")
_ids = itertools.count(1)


@dataclass(slots=True)
class Fault:
    """One injected failure: matches requests by service, method and path, fires ``times`` times.

    Kinds: ``status`` answers ``status`` (e.g. 503) without doing anything; ``error`` answers a
    Partner Center / Graph error with ``status`` and ``code`` (e.g. 409 800060); ``delay`` sleeps
    ``delay_s`` first, then does the call (longer than the client's read timeout = a timeout);
    ``drop`` closes the connection without doing anything; ``drop_after_commit`` does the call,
    commits it, then closes the connection without answering. ``skip`` lets that many matching
    calls through first (fail the second page, not the first); ``retry_after`` is the
    ``Retry-After`` header of a ``status``/``error`` answer, verbatim (``"inf"`` included).
    ``probability`` fires it on that share of the matching calls only (10% 5xx, a 429 storm that
    comes and goes), drawn from a generator seeded with ``seed`` so a chaos run can be replayed.
    """

    kind: str
    service: str | None = None
    method: str | None = None
    path: str | None = None
    status: int = 503
    code: int | str | None = None
    delay_s: float = 0.0
    times: int = 1
    skip: int = 0
    retry_after: str | None = None
    probability: float = 1.0
    seed: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    fired: int = 0
    skipped: int = 0
    _draws: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if self.path is not None:
            re.compile(self.path)
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be from 0 to 1")
        self._draws = random.Random(self.seed)

    def take(self, service: str, method: str, path: str) -> bool:
        """Whether this call gets the fault (counting it), after ``skip`` matching calls went through."""
        if not self.matches(service, method, path):
            return False
        if self.skipped < self.skip:
            self.skipped += 1
            return False
        if self.probability < 1.0 and self._draws.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def matches(self, service: str, method: str, path: str) -> bool:
        return (
            (self.times < 0 or self.fired < self.times)
            and (self.service is None or self.service == service)
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or re.search(self.path, path) is not None)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "service": self.service,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "delay_s": self.delay_s,
            "times": self.times,
            "skip": self.skip,
            "retry_after": self.retry_after,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {
            "kind",
            "service",
            "method",
            "path",
            "status",
            "code",
            "delay_s",
            "times",
            "skip",
            "retry_after",
            "probability",
            "seed",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**data)
