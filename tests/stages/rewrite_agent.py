"""A real command agent for optimize's tests: ignores chain's prompt and replies with the file named on its
command line as the new mod.py (usage: rewrite_agent.py NEW_MOD_PY)."""

import sys
from pathlib import Path

sys.stdin.read()
print("A faster version:\n\n```python\n# file: mod.py\n" + Path(sys.argv[1]).read_text() + "```")
