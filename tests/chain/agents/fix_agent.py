"""A real command agent for the tests: reads chain's prompt on stdin, writes a reply on stdout.

Usage: fix_agent.py STATE_FILE [wrong-first]
It finds `# file: mod.py` in the prompt, fixes the off-by-one (`mid + 1` -> `mid - 1`) and replies with the
whole file. With `wrong-first` its first answer is still broken, to exercise the feedback round.
It appends each prompt it got to STATE_FILE (one JSON string per line) so tests can read what chain asked.
"""

import json
import re
import sys

state, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
prompt = sys.stdin.read()
with open(state, "a") as fh:
    fh.write(json.dumps(prompt) + "\n")
rounds = sum(1 for _ in open(state))
code = re.search(r"```python\n# file: mod.py\n(.*?)```", prompt, re.S).group(1)
if not (mode == "wrong-first" and rounds == 1):
    code = code.replace("mid + 1", "mid - 1")
else:
    code = code.replace("mid + 1", "mid + 2")
print("Here is the fix:\n\n```python\n# file: mod.py\n" + code + "```")
