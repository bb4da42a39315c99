"""Families of small data-structure helpers for `chain generate`: interval merging, grid helpers (slow form:
lattice paths by plain recursion) and runs of equal items (slow form: `len()` re-evaluated in a `while`)."""

from __future__ import annotations

import random

from .families import Case, SlowForm, Unit, pick, render


def intervals(rng: random.Random) -> Unit:
    merge, covered, overlaps = (
        pick(rng, o)
        for o in (
            ("merge", "merge_spans", "union"),
            ("covered", "total_length", "coverage"),
            ("overlaps", "intersects", "collide"),
        )
    )
    spans = pick(rng, ("spans", "intervals", "ranges"))
    a, b = pick(rng, (("a", "b"), ("first", "second"), ("left", "right")))
    text = render(
        '''
        def $merge($spans):
            """Merge overlapping or touching (start, end) spans; the result is sorted by start."""
            merged = []
            for start, end in sorted($spans):
                if merged and start <= merged[-1][1]:  #@ start <= ~~ start < ;; and ~~ or
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))  #@ max( ~~ min(
                else:
                    merged.append((start, end))
            return merged


        def $covered($spans):
            """Total length covered by the spans, overlaps counted once."""
            return sum(end - start for start, end in $merge($spans))  #@ end - start ~~ end + start


        def $overlaps($a, $b):
            """True when the spans $a and $b share more than an end point."""
            return $a[0] < $b[1] and $b[0] < $a[1]  #@ and ~~ or ;; $a[0] < $b[1] ~~ $a[0] <= $b[1]
        ''',
        merge=merge,
        covered=covered,
        overlaps=overlaps,
        spans=spans,
        a=a,
        b=b,
    )
    x = rng.randint(0, 20)
    overlapping = [(x, x + 5), (x + 3, x + 9)]
    y = x + rng.randint(12, 20)
    touching = [(y, y + 4), (y + 4, y + 7)]
    z = y + rng.randint(10, 20)
    nested = [(z, z + 10), (z + 2, z + 5)]
    w = z + rng.randint(14, 30)
    lonely = [(w, w + rng.randint(1, 6))]
    mixed = overlapping + touching + nested + lonely
    rng.shuffle(mixed)
    cases = [
        Case(merge, "mixed", f"{merge}({mixed})"),
        Case(merge, "empty", f"{merge}([])"),
        Case(merge, "nested", f"{merge}({nested[::-1]})"),
        Case(merge, "touching", f"{merge}({touching})"),
        Case(covered, "mixed", f"{covered}({mixed})"),
        Case(covered, "single", f"{covered}({lonely})"),
        Case(overlaps, "overlapping", f"{overlaps}{tuple(overlapping)}"),
        Case(overlaps, "touching", f"{overlaps}{tuple(touching)}"),
        Case(overlaps, "apart", f"{overlaps}({overlapping[0]}, {lonely[0]})"),
        Case(overlaps, "nested", f"{overlaps}{tuple(nested)}"),
    ]
    bench = ("data = [(i, i + 3) for i in range(0, 100000, 2)]", f"{merge}(data)", f"{covered}(data)")
    return Unit(
        "intervals",
        pick(rng, ("intervals", "spans", "timeline")),
        text,
        (merge, covered, overlaps),
        tuple(cases),
        bench,
    )


def grid(rng: random.Random) -> Unit:
    row_sums, col_sums, neighbours, paths = (
        pick(rng, o)
        for o in (
            ("row_sums", "row_totals", "sum_rows"),
            ("col_sums", "column_totals", "sum_columns"),
            ("neighbours", "live_neighbours", "count_around"),
            ("paths", "lattice_paths", "route_count"),
        )
    )
    g, r, c = pick(rng, (("grid", "r", "c"), ("board", "row", "col"), ("cells", "y", "x")))
    rows, cols = pick(rng, (("rows", "cols"), ("height", "width"), ("down", "across")))
    head = render(
        '''
        def $row_sums($g):
            """The sum of each row."""
            return [sum(line) for line in $g]


        def $col_sums($g):
            """The sum of each column of a rectangular grid."""
            return [sum(line[k] for line in $g) for k in range(len($g[0]))]  #@ range(len($g[0])) ~~ range(len($g[0]) - 1)


        def $neighbours($g, $r, $c):
            """How many of the up to 8 cells around ($r, $c) hold a non-zero value."""
            count = 0
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if dr == 0 and dc == 0:  #@ and ~~ or
                        continue
                    rr, cc = $r + dr, $c + dc
                    if 0 <= rr < len($g) and 0 <= cc < len($g[0]) and $g[rr][cc] != 0:  #@ 0 <= rr ~~ 0 < rr ;; != 0 ~~ == 0
                        count += 1
            return count


        ''',
        row_sums=row_sums,
        col_sums=col_sums,
        neighbours=neighbours,
        g=g,
        r=r,
        c=c,
    )
    doc = f'"""Number of right/down paths from the top-left to the bottom-right cell of a {rows} x {cols} grid."""'
    fast = render(
        """
        def $paths($rows, $cols):
            $doc
            counts = [1] * $cols
            for _ in range($rows - 1):
                for k in range(1, $cols):  #@ range(1, $cols) ~~ range(2, $cols)
                    counts[k] = counts[k] + counts[k - 1]  #@ counts[k - 1] ~~ counts[k + 1]
            return counts[-1]
        """,
        paths=paths,
        rows=rows,
        cols=cols,
        doc=doc,
    )
    slow = render(
        """
        def $paths($rows, $cols):
            $doc
            if $rows == 1 or $cols == 1:
                return 1
            return $paths($rows - 1, $cols) + $paths($rows, $cols - 1)
        """,
        paths=paths,
        rows=rows,
        cols=cols,
        doc=doc,
    )
    height, width = rng.randint(3, 4), rng.randint(4, 5)
    cells = [[rng.choice((0, 1, 1, 2, 3, 5)) for _ in range(width)] for _ in range(height)]
    cells[0][1] = rng.randint(1, 9)  # row 0 has a non-zero cell next to (1, 1) and (1, 2)
    cases = [
        Case(row_sums, "grid", f"{row_sums}({cells})"),
        Case(col_sums, "grid", f"{col_sums}({cells})"),
        Case(col_sums, "single_row", f"{col_sums}([{cells[-1]}])"),
        Case(neighbours, "corner", f"{neighbours}({cells}, 0, 0)"),
        Case(neighbours, "middle", f"{neighbours}({cells}, 1, {rng.randint(1, width - 2)})"),
        Case(neighbours, "edge", f"{neighbours}({cells}, {height - 1}, {width - 1})"),
        Case(paths, "line", f"{paths}(1, {rng.randint(2, 9)})"),
        Case(paths, "square", f"{paths}(3, 3)"),
        Case(paths, "wide", f"{paths}({rng.randint(3, 4)}, {rng.randint(5, 7)})"),
    ]
    big = pick(rng, ((13, 13), (12, 14), (14, 12)))
    bench = (
        f"{paths}{big}",
        "board = [[(i * j) % 3 for j in range(40)] for i in range(40)]",
        "for i in range(40):",
        "    for j in range(40):",
        f"        {neighbours}(board, i, j)",
    )
    return Unit(
        "grid",
        pick(rng, ("grid", "board", "matrix_util")),
        head + fast,
        (row_sums, col_sums, neighbours, paths),
        tuple(cases),
        bench,
        SlowForm(paths, head + slow, "memoize", "exponential->polynomial", 3.0),
    )


def runs(rng: random.Random) -> Unit:
    longest, changes, compress = (
        pick(rng, o)
        for o in (
            ("longest_run", "max_streak", "longest_streak"),
            ("count_changes", "transitions", "switches"),
            ("run_lengths", "compress", "encode_runs"),
        )
    )
    items = pick(rng, ("items", "values", "seq"))
    head = render(
        '''
        def $longest($items):
            """Length of the longest run of equal adjacent items (0 for no items)."""
            best = 0  #@ best = 0 ~~ best = 1
            i = 0
            n = len($items)
            while i < n:
                j = i
                while j < n and $items[j] == $items[i]:
                    j += 1
                best = max(best, j - i)  #@ max( ~~ min( ;; j - i ~~ j + i
                i = j
            return best


        def $compress($items):
            """(item, run length) pairs for the runs of equal adjacent items, in order."""
            pairs = []
            for item in $items:
                if pairs and pairs[-1][0] == item:  #@ == ~~ !=
                    pairs[-1] = (item, pairs[-1][1] + 1)  #@ + 1) ~~ + 2)
                else:
                    pairs.append((item, 1))  #@ (item, 1) ~~ (item, 0)
            return pairs


        ''',
        longest=longest,
        compress=compress,
        items=items,
    )
    doc = '"""How many times an item differs from the one before it."""'
    fast = render(
        """
        def $changes($items):
            $doc
            count = 0
            for i in range(1, len($items)):  #@ range(1, ~~ range(0,
                if $items[i] != $items[i - 1]:  #@ != ~~ == ;; i - 1 ~~ i + 1
                    count += 1
            return count
        """,
        changes=changes,
        items=items,
        doc=doc,
    )
    slow = render(
        """
        def $changes($items):
            $doc
            count = 0
            i = 1
            while i < len($items):
                if $items[i] != $items[i - 1]:
                    count += 1
                i += 1
            return count
        """,
        changes=changes,
        items=items,
        doc=doc,
    )
    pool = pick(rng, ("abcde", (1, 2, 3, 4, 5)))
    data: list = []
    while len(data) < 9:
        value = pool[rng.randrange(len(pool))]
        if not data or data[-1] != value:
            data += [value] * rng.randint(1, 4)
    same = [pool[0]] * rng.randint(2, 5)
    cases = [
        Case(longest, "mixed", f"{longest}({data})"),
        Case(longest, "empty", f"{longest}([])"),
        Case(longest, "same", f"{longest}({same})"),
        Case(changes, "mixed", f"{changes}({data})"),
        Case(changes, "same", f"{changes}({same})"),
        Case(changes, "wraps", f"{changes}({[data[0], data[-1]] if data[0] != data[-1] else [data[0], 9]})"),
        Case(compress, "mixed", f"{compress}({data})"),
        Case(compress, "empty", f"{compress}([])"),
        Case(compress, "same", f"{compress}({same})"),
    ]
    bench = (
        "data = [i // 3 % 7 for i in range(200000)]",
        "for _ in range(8):",
        f"    {changes}(data)",
        f"{longest}(data[:20000])",
        f"{compress}(data[:20000])",
    )
    return Unit(
        "runs",
        pick(rng, ("runs", "streaks", "sequences")),
        head + fast,
        (longest, changes, compress),
        tuple(cases),
        bench,
        SlowForm(changes, head + slow, "hoist len", "constant-factor", 1.2),
    )


FAMILIES = (intervals, grid, runs)
