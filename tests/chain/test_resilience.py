import pytest

from chain.resilience import Backoff, CircuitBreaker, CircuitOpen, call_with_retries


class Flaky:
    """Fails `failures` times, then succeeds."""

    def __init__(self, failures):
        self.failures, self.calls = failures, 0

    def __call__(self):
        self.calls += 1
        return "boom" if self.calls <= self.failures else "ok"


def test_retries_back_off_exponentially_and_report_each_retry():
    slept, notices = [], []
    flaky = Flaky(3)
    out = call_with_retries(flaky, lambda r: r if r == "boom" else None, retries=5,
                            backoff=Backoff(base_s=0.1, factor=2, jitter=0), sleep=slept.append,
                            notify=lambda kind, msg, **kw: notices.append((kind, kw)))
    assert out == "ok" and flaky.calls == 4
    assert slept == pytest.approx([0.1, 0.2, 0.4])
    assert [k for k, _ in notices] == ["retry"] * 3 and notices[2][1]["attempt"] == 3


def test_gives_up_after_the_retry_budget():
    flaky = Flaky(10)
    out = call_with_retries(flaky, lambda r: r if r == "boom" else None, retries=2, sleep=lambda s: None)
    assert out == "boom" and flaky.calls == 3


def test_circuit_opens_fails_fast_then_half_opens_and_closes(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("chain.resilience.time.monotonic", lambda: now[0])
    events = []
    breaker = CircuitBreaker("sandbox x", threshold=3, cooldown_s=30, notify=lambda k, m, **kw: events.append(k))
    for _ in range(3):
        breaker.before()
        breaker.failure("cannot start")
    assert breaker.state == "open" and events == ["circuit_open"]
    with pytest.raises(CircuitOpen):
        breaker.before()
    now[0] += 31
    breaker.before()  # the one trial run
    assert breaker.state == "half_open"
    with pytest.raises(CircuitOpen):
        breaker.before()  # only one trial at a time
    breaker.success()
    assert breaker.state == "closed" and events == ["circuit_open", "circuit_half_open", "circuit_closed"]
