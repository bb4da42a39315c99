"""The e2b backend through the real e2b SDK with NOTHING listening for envd: the SDK's debug mode (E2B_DEBUG=true:
no control API, envd expected at localhost:49983) against a closed port, so every envd call fails for real and the
backend's retries, backoff and circuit breaker are exercised end to end. Runs against a local envd fake (passing,
failing, timeout, cancel, transient failures) are in test_e2b_against_fake_envd.py."""

from __future__ import annotations

import socket

import pytest

from chain import registry
from chain.resilience import Backoff, CircuitBreaker
from chain.sandbox import RunSpec
from chain.sandbox.e2b_backend import E2BSandbox
from tests.chain.sandbox.envd_fake import envd_port

pytestmark = pytest.mark.xdist_group("envd")  # port 49983 is one per machine


def _envd_port_free() -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 49983)) != 0


def test_e2b_is_registered_and_says_why_it_is_unavailable_without_a_key(monkeypatch):
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    monkeypatch.delenv("E2B_DEBUG", raising=False)
    assert registry.get().sandboxes["e2b"] is E2BSandbox
    ok, why = E2BSandbox.available()
    assert not ok and "E2B_API_KEY" in why


def test_e2b_template_from_env(monkeypatch):
    monkeypatch.setenv("CHAIN_E2B_TEMPLATE", "my-python")
    assert E2BSandbox().describe()["template"] == "my-python"


@pytest.fixture
def envd_port_closed():
    with envd_port():  # no envd fake of another test or worker may start meanwhile
        yield


def test_e2b_against_unreachable_envd_retries_with_backoff_then_opens_circuit(monkeypatch, envd_port_closed):
    if not _envd_port_free():
        pytest.skip("something listens on 49983")
    monkeypatch.setenv("E2B_DEBUG", "true")
    breaker = CircuitBreaker("e2b", threshold=3, cooldown_s=60)
    box = E2BSandbox(retries=2, backoff=Backoff(base_s=0.01, max_s=0.05), breaker=breaker)
    spec = RunSpec(files={"test_x.py": "def test_x():\n    assert True\n"}, command="python -m pytest -q",
                   timeout_s=5)

    first = box.run(spec)
    assert first.error and first.exit_code is None and first.report is None
    kinds = [e["kind"] for e in first.events]
    assert kinds == ["retry", "retry", "circuit_open"]  # 3 attempts; the 3rd failure trips the breaker
    assert "Exception" in first.error or "Error" in first.error  # the SDK error is named, not hidden
    delays = [e["delay_s"] for e in first.events if e["kind"] == "retry"]
    assert delays[1] > delays[0] * 1.2  # exponential (jitter is +-25%)
    assert not box._live  # every sandbox handle was killed/dropped even though the calls failed

    second = box.run(spec)  # breaker open: fails fast without touching the network
    assert "circuit open" in second.error and not second.events
