"""Framing between the stage process and its Ray driver process (`ray_driver`), over a pair of pipes.

A frame is a 4-byte big-endian length and a pickle of a list of messages (tuples): whatever a side has to
say at once travels in one write. Payloads the driver only forwards (a run's spec and files, a run's outcome)
are pickled bytes inside a message, so they are pickled once where they are made and unpickled once where
they are used, never in between.
"""

from __future__ import annotations

import os
import pickle
import struct
import threading
from typing import Any, BinaryIO

_HEAD = struct.Struct("!I")


class Sender:
    """Writes frames to a file descriptor; safe to call from any thread."""

    def __init__(self, fd: int):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, *messages: tuple) -> None:
        blob = pickle.dumps(list(messages), protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(_HEAD.pack(len(blob)) + blob)
        with self.lock:
            if self.fd < 0:
                raise BrokenPipeError("the channel is closed")
            while data:
                data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        """Closes the descriptor (the other side reads the end of file); later sends raise OSError."""
        with self.lock:
            fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def receive(stream: BinaryIO) -> list[Any] | None:
    """The next frame's messages, or None at end of file (the other side is gone)."""
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    size = _HEAD.unpack(head)[0]
    blob = stream.read(size)
    if len(blob) < size:
        return None
    messages: list[Any] = pickle.loads(blob)
    return messages


class Frames:
    """Frames read from a descriptor as they arrive (for a loop that waits on more than one thing)."""

    def __init__(self, fd: int):
        self.fd = fd
        self._buffer = bytearray()

    def read(self) -> list[Any] | None:
        """Messages of every whole frame that one read completed (maybe none), or None at end of file."""
        data = os.read(self.fd, 1 << 20)
        if not data:
            return None
        self._buffer += data
        messages: list[Any] = []
        while len(self._buffer) >= _HEAD.size:
            size = _HEAD.unpack_from(self._buffer)[0]
            end = _HEAD.size + size
            if len(self._buffer) < end:
                break
            messages += pickle.loads(bytes(self._buffer[_HEAD.size : end]))
            del self._buffer[:end]
        return messages
