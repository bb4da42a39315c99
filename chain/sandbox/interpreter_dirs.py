"""The directories an interpreter needs to start and to import what is installed for it: its prefixes, every
absolute entry of its sys.path (site-packages and what their `.pth` files add) and the package directories
that editable installs' import finders map to (setuptools' `__editable___*_finder.py`), which may live
outside all of those.

Standard library only and nothing of chain: besides `view.py` here, `remote_confine.py` uses it inside a
remote sandbox (E2B), where it learns the view from the interpreters found there.
"""

import ast
import json
import os
import subprocess

# Run in the interpreter asked about (isolated mode: no PYTHONPATH, no user site, no current directory).
PROBE = r"""
import json, os, sys
print(json.dumps({"prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                               os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)],
                  "path": [p for p in sys.path if os.path.isabs(p)]}))
"""


def probe(python):
    """{"prefixes": [...], "path": [...]} as `python` reports them; raises OSError, SubprocessError, ValueError."""
    out = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def directories(found):
    """Every directory a probe's answer names, with the editable installs' targets, existing, in order."""
    paths = [*found["prefixes"], *found["path"]]
    for directory in found["path"]:
        paths += editable_targets(directory)
    return list(dict.fromkeys(p for p in paths if p and os.path.exists(p)))


def editable_targets(site_dir):
    """Package directories that editable installs in `site_dir` import from (the paths plain `.pth` lines
    add are already on sys.path; setuptools' finders keep theirs in a MAPPING in a module)."""
    found = []
    try:
        names = os.listdir(site_dir)
    except OSError:
        return found
    for name in names:
        if not (name.startswith("__editable__") and name.endswith("_finder.py")):
            continue
        try:
            with open(os.path.join(site_dir, name), encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if value is not None and any(getattr(t, "id", "") == "MAPPING" for t in targets):
                try:
                    mapping = ast.literal_eval(value)
                except ValueError:
                    continue
                found += [p for p in mapping.values() if isinstance(p, str) and os.path.isabs(p)]
    return found
