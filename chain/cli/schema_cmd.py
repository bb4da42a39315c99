"""`chain schema`: the JSON Schema of every chain event, generated from the pydantic models."""

import sys

import click
import orjson

from ..protocol import json_schema


@click.command()
def schema():
    """Print the JSON Schema of chain events (task, result, error)."""
    sys.stdout.buffer.write(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
