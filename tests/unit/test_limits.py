"""The per-key token bucket."""

import pytest

from orchestrate_gateway.limits import RateLimited, RateLimiter


def test_a_burst_then_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("orchestrate_gateway.limits.time.monotonic", lambda: now[0])
    limiter = RateLimiter(rate=10, burst=5)
    for _ in range(5):
        limiter.check("k")
    with pytest.raises(RateLimited) as refused:
        limiter.check("k")
    assert refused.value.retry_after_s == pytest.approx(0.1)
    limiter.check("other")  # keys do not share a budget
    now[0] += 0.25  # 2.5 tokens come back
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")


def test_zero_rate_disables_the_limit() -> None:
    limiter = RateLimiter(rate=0, burst=0)
    for _ in range(1000):
        limiter.check("k")
