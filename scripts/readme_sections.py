"""Refresh (--write) or verify (--check, the default) the generated sections of README.md."""

import sys
from pathlib import Path

from chain.docs import render

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text(encoding="utf-8")
fresh = render(text)
if "--write" in sys.argv:
    readme.write_text(fresh, encoding="utf-8")
elif fresh != text:
    sys.exit("README.md is out of date: run `make readme`")
