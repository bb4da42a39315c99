"""Refresh (--write) or verify (--check, the default) the generated sections of README.md and docs/*.md."""

import sys
from pathlib import Path

from chain.docs import DOC_SECTIONS, SECTIONS, render

root = Path(__file__).resolve().parents[1]
stale = []
for name, sections in {"README.md": SECTIONS, **DOC_SECTIONS}.items():
    path = root / name
    text = path.read_text(encoding="utf-8")
    fresh = render(text, sections)
    if "--write" in sys.argv:
        path.write_text(fresh, encoding="utf-8")
    elif fresh != text:
        stale.append(name)
if stale:
    sys.exit(f"{', '.join(stale)} out of date: run `make readme`")
