import ast
import warnings

from chain.repair.mutate import apply, mutations

SRC = """\
def f(xs, k):
    total = 0
    for i in range(1, len(xs)):
        if xs[i] > k and i % 2 == 0:
            total += xs[i - 1]
    return max(total, k)
"""


def ops_at(line):
    return {(e.operator, e.before, e.text) for e in mutations("m.py", SRC, line)}


def test_operators_cover_the_issue_list():
    line3 = ops_at(3)
    assert ("off-by-one range", "range(1, len(xs))", "range(2, len(xs))") in line3
    line4 = ops_at(4)
    assert ("swap comparison", "xs[i] > k", "xs[i] >= k") in line4
    assert ("swap boolean", "xs[i] > k and i % 2 == 0", "xs[i] > k or i % 2 == 0") in line4
    assert any(op == "drop condition" for op, _, _ in line4)
    assert any(op == "negate condition" for op, _, _ in line4)
    line5 = ops_at(5)
    assert ("swap arithmetic", "i - 1", "i + 1") in line5
    assert any(op == "off-by-one index" for op, _, _ in line5)
    assert any(op in ("delete statement", "duplicate statement", "move statement") for op, _, _ in line5)
    line6 = ops_at(6)
    assert ("similar function", "max(total, k)", "min(total, k)") in line6
    assert ("swap arguments", "max(total, k)", "max(k, total)") in line6
    assert ("replace name", "total", "xs") in line6
    assert any(op == "replace return value" for op, _, _ in line6)


def test_every_mutant_compiles_and_changes_only_its_span():
    for line in range(2, 7):
        for edit in mutations("m.py", SRC, line):
            out = apply({"m.py": SRC}, [edit])["m.py"]
            ast.parse(out)
            assert out[: edit.start] == SRC[: edit.start]
            assert out[edit.start + len(edit.text):] == SRC[edit.end:]


def test_overlapping_edits_are_refused():
    a, b = [e for e in mutations("m.py", SRC, 6) if e.operator in ("similar function", "swap arguments")][:2]
    assert apply({"m.py": SRC}, [a, b]) is None


def _fixes(src, line, fixed):
    """The operators whose single edit at `line` turns `src` into `fixed` (same AST)."""
    want = ast.dump(ast.parse(fixed))
    return {e.operator for e in mutations("m.py", src, line)
            if ast.dump(ast.parse(src[: e.start] + e.text + src[e.end:])) == want}


def test_plastic_surgery_and_templates_reach_fixes_beyond_single_tokens():
    # A bounds check the test lacks, built from the index it reads.
    roman = "def f(t, v):\n    for i, c in enumerate(t):\n        if v[c] < v[t[i + 1]]:\n            return i\n"
    assert "add condition" in _fixes(roman, 3, roman.replace("if v[c]", "if i + 1 < len(t) and v[c]"))
    # A statement copied from a sibling method.
    lru = ("class C:\n    def get(self, k):\n        return self.d[k]\n\n"
           "    def put(self, k, v):\n        self.d.move_to_end(k)\n        self.d[k] = v\n")
    assert "copy statement" in _fixes(lru, 3, lru.replace("        return self.d[k]\n",
                                                          "        self.d.move_to_end(k)\n        return self.d[k]\n"))
    # A guard before the line that divides by the length.
    rot = "def rot(xs, k):\n    k %= len(xs)\n    return xs[-k:] + xs[:-k]\n"
    assert "insert guard" in _fixes(rot, 2, rot.replace("    k %=", "    if not xs:\n        return []\n    k %="))
    # An expression used elsewhere in the function (a name growing into its use: part -> int(part)).
    get = "def g(xs, part):\n    if int(part) < len(xs):\n        return xs[part]\n"
    assert "ingredient" in _fixes(get, 3, get.replace("xs[part]", "xs[int(part)]"))
    # Parentheses a formula lacks, swapped operands, and a max() the update forgot.
    assert "regroup" in _fixes("def c(f):\n    return f - 32 * 5 / 9\n", 2, "def c(f):\n    return (f - 32) * 5 / 9\n")
    assert "swap operands" in _fixes("def m(a, b):\n    return b % a\n", 2, "def m(a, b):\n    return a % b\n")
    acc = "def hi(m, e):\n    m[-1] = e\n"
    assert "accumulate" in _fixes(acc, 2, "def hi(m, e):\n    m[-1] = max(m[-1], e)\n")


def test_mutants_that_draw_a_syntax_warning_do_not_reach_the_users_stderr():
    # Some of this line's mutants draw "invalid decimal literal" from Python's parser (and some of those do not
    # parse): the warning names "<unknown>", and on the stage's stderr reads as if the user's code had drawn it.
    text = ("def caesar(text, shift):\n    out = []\n    for c in text:\n        if c.isalpha():\n"
            "            base = ord(\"A\") if c.isupper() else ord(\"a\")\n"
            "            out.append(chr((ord(c) - base + shift) % 25 + base))\n")
    with warnings.catch_warnings(record=True) as drawn:
        warnings.simplefilter("always")
        edits = mutations("cipher.py", text, 4)
        assert all(apply({"cipher.py": text}, [edit]) for edit in edits)
    assert edits and not [w for w in drawn if issubclass(w.category, SyntaxWarning)]
