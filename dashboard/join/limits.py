"""Abuse limits of the public join routes: token buckets in memory, one set per server.

Two limits (docs/join.md, "Limits"): failed attempts per client address (an unknown code or a
token that is not the lesson's: what guessing looks like; a class behind one school NAT joining
at once fails nothing, so it is not slowed), and samples per student token (what the lesson's
rate needs, with room for a page's offline buffer sent in one go). Times are passed in.
"""

from __future__ import annotations

import heapq
import ipaddress
import threading
from collections.abc import Hashable
from dataclasses import dataclass

# Failed attempts one client address may make: a burst of 10, then 10 a minute.
FAILED_ATTEMPTS_PER_MINUTE = 10.0
FAILED_ATTEMPTS_BURST = 10.0
MAX_KEYS = 100_000  # buckets held at most; full (idle) ones are dropped first


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `refill_per_s`; an action spends some."""

    capacity: float
    refill_per_s: float
    tokens: float
    at_s: float

    def refill(self, now_s: float) -> None:
        """Add what accrued since the last look (never past capacity)."""
        elapsed = max(0.0, now_s - self.at_s)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_s)
        self.at_s = max(self.at_s, now_s)

    def wait_s(self, n: float) -> float:
        """Seconds until `n` tokens are there (0 when they are); refill first."""
        missing = n - self.tokens
        if missing <= 0:
            return 0.0
        if n > self.capacity:
            return float("inf")
        return missing / self.refill_per_s


class RateLimiter:
    """Token buckets by key (a client address, a token's hash), thread-safe, bounded in number."""

    def __init__(self, capacity: float, refill_per_s: float, max_keys: int = MAX_KEYS) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be > 0")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._max_keys = max_keys
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: Hashable, now_s: float, capacity: float, refill: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now_s)
            bucket = self._buckets[key] = TokenBucket(capacity, refill, capacity, now_s)
        else:
            bucket.capacity, bucket.refill_per_s = capacity, refill
        bucket.refill(now_s)
        return bucket

    def _prune(self, now_s: float) -> None:
        """Drop buckets that have refilled (they remember nothing), then the fullest, to make room."""
        full = []
        for key, bucket in self._buckets.items():
            bucket.refill(now_s)
            if bucket.tokens >= bucket.capacity:
                full.append(key)
        for key in full:
            del self._buckets[key]
        # Then those nearest to full (they remember least): a tenth of the room at once, so a flood
        # of new keys costs one scan per tenth, not one per key.
        excess = len(self._buckets) - self._max_keys + max(1, self._max_keys // 10)
        if excess > 0:
            fullest = heapq.nlargest(excess, self._buckets,
                                     key=lambda k: self._buckets[k].tokens / self._buckets[k].capacity)  # fmt: skip
            for key in fullest:
                del self._buckets[key]

    def wait_s(self, key: Hashable, now_s: float, n: float = 1.0) -> float:
        """Seconds before `n` could be spent under `key` (0: now), spending nothing."""
        with self._lock:
            return self._bucket(key, now_s, self.capacity, self.refill_per_s).wait_s(n)

    def spend(self, key: Hashable, now_s: float, n: float = 1.0) -> None:
        """Spend `n` under `key` (the balance may go below zero: a debt waited off)."""
        with self._lock:
            self._bucket(key, now_s, self.capacity, self.refill_per_s).tokens -= n

    def take(
        self, key: Hashable, now_s: float, n: float, capacity: float, refill_per_s: float
    ) -> float:
        """Spend `n` now when the bucket (with these sizes) holds them and return 0; else spend
        nothing and return the seconds to wait."""
        with self._lock:
            bucket = self._bucket(key, now_s, capacity, refill_per_s)
            wait = bucket.wait_s(n)
            if wait == 0.0:
                bucket.tokens -= n
            return wait


    def give_back(
        self, key: Hashable, now_s: float, n: float, capacity: float, refill_per_s: float
    ) -> None:
        """Return `n` taken for something that did not happen (a write that failed)."""
        with self._lock:
            bucket = self._bucket(key, now_s, capacity, refill_per_s)
            bucket.tokens = min(bucket.capacity, bucket.tokens + n)


def client_key(address: str) -> str:
    """The failed-attempt limit's key of a client address: an IPv6 client by its /64 (one home or
    device picks any address in its /64 at will), anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def failed_attempts_limiter(per_minute: float = FAILED_ATTEMPTS_PER_MINUTE,
                            burst: float = FAILED_ATTEMPTS_BURST) -> RateLimiter:  # fmt: skip
    """The limiter of failed attempts per client address."""
    return RateLimiter(burst, per_minute / 60.0)


def sample_budget(rate_hz: float, offline_buffer_s: float, batch_max: int) -> tuple[float, float]:
    """(capacity, refill per second) of one token's samples: twice the lesson's rate (so a page a
    little fast, or a resend, passes), and room for a full offline buffer plus one batch."""
    return rate_hz * offline_buffer_s + batch_max, 2.0 * rate_hz
