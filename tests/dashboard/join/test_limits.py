"""Token buckets of the join routes: a burst, then the refill rate; bounded in memory."""

from __future__ import annotations

import pytest

from dashboard.join.limits import RateLimiter, failed_attempts_limiter, sample_budget


def test_failed_attempts_allow_a_burst_of_ten_then_ten_a_minute():
    limiter = failed_attempts_limiter()
    for _ in range(10):
        assert limiter.wait_s("10.0.0.1", 0.0) == 0
        limiter.spend("10.0.0.1", 0.0)
    assert limiter.wait_s("10.0.0.1", 0.0) == pytest.approx(6.0)
    assert limiter.wait_s("10.0.0.2", 0.0) == 0  # another address has its own bucket
    assert limiter.wait_s("10.0.0.1", 6.0) == 0
    assert limiter.wait_s("10.0.0.1", 60.0) == 0


def test_take_spends_only_when_the_bucket_holds_enough():
    limiter = RateLimiter(1.0, 1.0)
    assert limiter.take("t", 0.0, 20, capacity=30, refill_per_s=2) == 0
    assert limiter.take("t", 0.0, 20, capacity=30, refill_per_s=2) == pytest.approx(5.0)
    assert limiter.take("t", 5.0, 20, capacity=30, refill_per_s=2) == 0


def test_a_students_budget_covers_an_offline_buffer_and_twice_the_rate():
    assert sample_budget(1.0, 600, 20) == (620.0, 2.0)


def test_buckets_are_bounded_and_drop_refilled_ones_first():
    limiter = RateLimiter(2.0, 1.0, max_keys=3)
    limiter.spend("busy", 0.0, 2.0)
    for key in ("a", "b", "c", "d"):
        limiter.spend(key, 0.5, 0.1)
    assert limiter.wait_s("busy", 1.0, 2.0) > 0  # still remembered: it was not full
    assert len(limiter._buckets) <= 3


def test_failed_attempts_are_counted_per_ipv4_address_and_per_ipv6_64():
    from dashboard.join.limits import client_key

    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2::17") == client_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::17") != client_key("2001:db8:1:2::17")
    assert client_key("testclient") == "testclient"  # not an address: as it is
