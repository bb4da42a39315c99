import ast

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
