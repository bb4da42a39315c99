"""Networking inside every backend: a test's own server on 127.0.0.1 works (as under plain pytest), while
on the namespaced backends a listener on the host stays out of reach in the very same run."""

from __future__ import annotations

import socket

import pytest

from tests.chain.sandbox.conftest import evaluate, files_for, requires

OWN_SERVER = """
    import socket
    import threading

    def test_own_server_on_loopback():
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]

            def answer():
                conn, _ = server.accept()
                with conn:
                    conn.sendall(conn.recv(64).upper())

            threading.Thread(target=answer, daemon=True).start()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"ping")
                assert client.recv(64) == b"PING"
"""


def requires_loopback(sandbox) -> None:
    # landlock has no network namespace: its seccomp filter refuses every AF_INET socket, since a loopback
    # server of the test's own could not be told apart from a listener on the host's 127.0.0.1.
    requires(sandbox, "loopback", "none", "no loopback of its own")


def test_a_test_s_own_loopback_server_works(sandbox):
    requires_loopback(sandbox)
    ev = evaluate(sandbox, files_for(OWN_SERVER), timeout=30)
    assert ev.status == "passed", (ev.summary, [c.message for c in ev.cases], ev.outcome.stderr[-1500:])
    assert ev.tests.passed == 1


def test_the_host_s_listener_stays_unreachable_while_loopback_works(sandbox):
    if str(sandbox.describe().get("network", "")).startswith("host"):
        pytest.skip(f"{sandbox.name} shares the host network by design")
    requires_loopback(sandbox)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        ev = evaluate(sandbox, files_for(OWN_SERVER + f"""

    def test_host_listener():
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leaked")
        except OSError as exc:
            assert "Connection refused" in str(exc), exc
        else:
            raise AssertionError("reached the host's listener")
"""), timeout=30)
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing reached the host
    assert ev.status == "passed", (ev.summary, [c.message for c in ev.cases], ev.outcome.stderr[-1500:])
    assert ev.tests.passed == 2
