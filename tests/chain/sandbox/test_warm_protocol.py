"""The warm pool's wire protocol: typed messages survive the socket, descriptors travel with them, and
anything that is not a declared message is refused rather than half-read."""

from __future__ import annotations

import os
import socket

import pytest

from chain.sandbox.warm_worker import protocol as wire


def test_a_run_request_and_its_pipes_cross_the_socket_intact():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read_end, write_end = os.pipe()
    request = wire.Run(args=["-q", "-k", "a and b"], cwd="/tmp/ws", cwd_on_path=True, env={"PATH": "/bin"},
                       prepare=None, limits=wire.RunLimits(cpu_s=10, memory_mb=512, file_mb=64, nproc=32))
    with ours, theirs:
        wire.send(ours, request, [write_end])
        os.close(write_end)
        message, fds, _ = wire.receive(theirs, timeout=5)
        assert message == request and isinstance(message.limits, wire.RunLimits)
        os.write(fds[0], b"through the passed fd")
        wire.close_all(fds)
        assert os.read(read_end, 100) == b"through the passed fd"
        os.close(read_end)
        ours.close()
        assert wire.receive(theirs, timeout=5) == (None, [], None)  # the peer is gone


@pytest.mark.parametrize("data", [b'{"op": "launch"}', b'{"op": "run", "args": []}', b"not json",
                                  b'{"op": "done", "status": 0, "keep": [], "extra": 1}'])
def test_anything_but_a_declared_message_is_refused(data):
    with pytest.raises(wire.ProtocolError):
        wire.decode(data)


def test_a_receive_with_nothing_to_read_times_out():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs, pytest.raises(TimeoutError):
        wire.receive(theirs, timeout=0.05)
