"""chain's built-in stages, one module each, registered through the same hook plugins use."""

from . import analyze, optimize, process


def register_stages(register):
    register("analyze", analyze.run, help=analyze.HELP)
    register("process", process.run, help=process.HELP)
    register("optimize", optimize.run, help=optimize.HELP)
