"""`chain stats`: counters for monitoring."""

import sys

import click
import orjson

from ..metrics import exposition
from ..store import ProfileStore
from .profiles_cmd import STATE_OPTION


@click.command()
@STATE_OPTION
@click.option("--prometheus", is_flag=True, help="Prometheus text exposition format instead of JSON.")
def stats(state, prometheus):
    """Execution and profile counters from the state database."""
    store = ProfileStore(state)
    try:
        if prometheus:
            sys.stdout.write(exposition(store))
        else:
            payload = {"executions": store.execution_count(), "profiles": store.stats()}
            sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
    finally:
        store.close()
