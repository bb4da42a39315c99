"""Refresh (--write) or verify (--check, the default) the generated sections of README.md and docs/*.md.

Two kinds of generated text: the sections `chain.docs` renders (`<!-- NAME:begin -->` ... `<!-- NAME:end -->`),
and files quoted whole as a fenced block (`<!-- quote: PATH -->` ... `<!-- /quote -->`, PATH relative to the
repository), so a recipe in the docs is the very file a test runs."""

import re
import sys
from pathlib import Path

from chain.bench.docs import DOC_SECTIONS
from chain.docs import SECTIONS, render

root = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r"(<!-- quote: (?P<path>\S+) -->\n).*?(<!-- /quote -->)", re.S)
FENCE = {".yml": "yaml", ".yaml": "yaml", ".sh": "bash", ".py": "python", ".toml": "toml"}


def quote_files(text: str) -> str:
    def block(m: re.Match) -> str:
        path = root / m["path"]
        body = path.read_text(encoding="utf-8")
        if not body.endswith("\n"):
            body += "\n"
        return f"{m.group(1)}```{FENCE.get(path.suffix, '')}\n{body}```\n{m.group(3)}"

    return QUOTE.sub(block, text)


documents = {"README.md": SECTIONS, **DOC_SECTIONS, "docs/ci.md": {}}
stale = []
for name, sections in documents.items():
    path = root / name
    text = path.read_text(encoding="utf-8")
    fresh = quote_files(render(text, sections) if sections else text)
    if "--write" in sys.argv:
        path.write_text(fresh, encoding="utf-8")
    elif fresh != text:
        stale.append(name)
if stale:
    sys.exit(f"{', '.join(stale)} out of date: run `make readme`")
