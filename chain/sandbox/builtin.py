"""Registers chain's own sandbox backends through the same hook third-party plugins use."""

from .local import LocalSandbox


def register_sandboxes(register):
    register("local", LocalSandbox)
