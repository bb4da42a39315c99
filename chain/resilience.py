"""Retries with exponential backoff and a circuit breaker, for calls that fail for reasons outside the code
under test (a sandbox backend that cannot start, an agent endpoint that is down).

Both report what they do through a `notify(kind, message, **fields)` callback, which stages turn into
`notice` events on stdout, so a pipeline's log shows every retry and every breaker trip.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Notify = Callable[..., None]


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.2
    factor: float = 2.0
    max_s: float = 10.0
    jitter: float = 0.25  # +-25%: keeps many workers from retrying in lockstep

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        raw = min(self.max_s, self.base_s * self.factor ** (attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, raw * (1 + spread))


class CircuitOpen(Exception):
    pass


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures; open -> half-open after `cooldown_s`, letting one
    trial through; a success closes it again, a failure reopens it."""

    def __init__(self, name: str, threshold: int = 5, cooldown_s: float = 30.0, notify: Notify | None = None):
        self.name, self.threshold, self.cooldown_s = name, threshold, cooldown_s
        self.notify = notify or (lambda *a, **k: None)
        self.state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False
        self._lock = threading.Lock()

    def before(self, notify: Notify | None = None) -> None:
        notify = notify or self.notify
        with self._lock:
            if self.state == "open":
                if time.monotonic() - self._opened_at < self.cooldown_s:
                    raise CircuitOpen(f"{self.name}: circuit open after {self._failures} consecutive failures")
                self.state = "half_open"
                self._trial_out = False
                notify("circuit_half_open", f"{self.name}: trying again after {self.cooldown_s:g}s")
            if self.state == "half_open":
                if self._trial_out:
                    raise CircuitOpen(f"{self.name}: circuit half-open, trial run in progress")
                self._trial_out = True

    def success(self, notify: Notify | None = None) -> None:
        with self._lock:
            if self.state != "closed":
                (notify or self.notify)("circuit_closed", f"{self.name}: recovered")
            self.state, self._failures, self._trial_out = "closed", 0, False

    def failure(self, reason: str, notify: Notify | None = None) -> None:
        with self._lock:
            self._failures += 1
            if self.state == "half_open" or (self.state == "closed" and self._failures >= self.threshold):
                self.state, self._opened_at, self._trial_out = "open", time.monotonic(), False
                (notify or self.notify)(
                    "circuit_open",
                    f"{self.name}: circuit open after {self._failures} consecutive "
                    f"failures (last: {reason}); failing fast for {self.cooldown_s:g}s",
                )


def call_with_retries(
    attempt_once: Callable[[], T],
    failed: Callable[[T], str | None],
    *,
    retries: int,
    backoff: Backoff = Backoff(),
    breaker: CircuitBreaker | None = None,
    notify: Notify | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt_once` up to 1 + `retries` times while `failed(result)` names an infrastructure failure.
    Raises CircuitOpen when the breaker refuses the call."""
    notify = notify or (lambda *a, **k: None)
    attempt = 0
    while True:
        attempt += 1
        if breaker:
            breaker.before(notify)
        result = attempt_once()
        reason = failed(result)
        if reason is None:
            if breaker:
                breaker.success(notify)
            return result
        if breaker:
            breaker.failure(reason, notify)
        if attempt > retries or cancelled():
            return result
        delay = backoff.delay(attempt, rng)
        notify(
            "retry",
            f"attempt {attempt} failed ({reason}); retrying in {delay:.2f}s",
            attempt=attempt,
            delay_s=round(delay, 3),
        )
        sleep(delay)
