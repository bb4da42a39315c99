"""Sandbox backends behind one interface (`Sandbox.run(RunSpec) -> RunOutcome`).

Backends are registered through the `chain.plugins` entry point group (`register_sandboxes(register)`);
`chain.registry.sandboxes()` lists them.
"""

from .base import Limits, RunOutcome, RunSpec, Sandbox

__all__ = ["Limits", "RunOutcome", "RunSpec", "Sandbox"]
