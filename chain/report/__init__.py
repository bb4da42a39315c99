"""Reports CI systems read, made from chain's stream: JUnit XML, SARIF 2.1.0, GitHub workflow commands and a
Markdown summary. One module per format, each with `render(StreamReport) -> bytes`; `reading.read` builds
the StreamReport from NDJSON lines (and tees them). `chain report FORMAT` is a thin layer over this."""

from __future__ import annotations

from . import github, junit, markdown, sarif
from .reading import StreamReport, read

FORMATS = {"junit": junit.render, "sarif": sarif.render, "github": github.render, "markdown": markdown.render}

__all__ = ["FORMATS", "StreamReport", "read"]
