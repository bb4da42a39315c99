"""chain: composable stream-json stages that run code and its tests in a sandbox and learn EMA profiles.

The CLI (`chain.cli`) is a thin layer over this library:

    from chain import run_stage_on
    results = run_stage_on("analyze", [task])  # -> list of Result events
"""

__version__ = "0.1.0"

from .api import run_stage_on

__all__ = ["__version__", "run_stage_on"]
