"""The programs of benchmarks/real_bugs/, each correct, with its bug as text replacements (see _build.py).

This file is the suite's ground truth: it is never part of a task. Kinds name what a fix needs, not which
operator chain has for it (several are out of reach of single-token mutation on purpose).
"""

PROGRAMS = [
    dict(name="binary_search_loop", module="search", kind="wrong update (loops forever)", loops=True, code='''
        def binary_search(items, target):
            """Index of target in the sorted list items, or -1."""
            lo, hi = 0, len(items) - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                if items[mid] == target:
                    return mid
                if items[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid - 1
            return -1
        ''', bug=[("lo = mid + 1", "lo = mid")],
        cases={"binary_search": [([1, 3, 5, 7, 9], 7), ([1, 3, 5, 7, 9], 1), ([1, 3, 5, 7, 9], 9),
                                 ([1, 3, 5, 7, 9], 4), ([], 3), ([2], 2), ([1, 2, 3, 4, 5, 6], 3)]}),

    dict(name="bubble_sort_bound", module="sorting", kind="off-by-one range", code='''
        def bubble_sort(values):
            """A sorted copy of values (stable)."""
            items = list(values)
            n = len(items)
            for i in range(n):
                swapped = False
                for j in range(n - i - 1):
                    if items[j] > items[j + 1]:
                        items[j], items[j + 1] = items[j + 1], items[j]
                        swapped = True
                if not swapped:
                    break
            return items
        ''', bug=[("range(n - i - 1)", "range(n - i - 2)")],
        cases={"bubble_sort": [([3, 1, 2],), ([5, 4, 3, 2, 1],), ([],), ([1],), ([2, 1],), ([1, 2, 3],),
                               ([4, 4, 1, 3],)]}),

    dict(name="insertion_sort_guard", module="insertion", kind="comparison", code='''
        def insertion_sort(values):
            items = list(values)
            for i in range(1, len(items)):
                key = items[i]
                j = i - 1
                while j >= 0 and items[j] > key:
                    items[j + 1] = items[j]
                    j -= 1
                items[j + 1] = key
            return items
        ''', bug=[("while j >= 0 and", "while j > 0 and")],
        cases={"insertion_sort": [([3, 1, 2],), ([5, 4, 3, 2, 1],), ([],), ([1],), ([2, 1],), ([1, 2, 3],)]}),

    dict(name="gcd_operands", module="numbers_gcd", kind="swapped operands", code='''
        def gcd(a, b):
            a, b = abs(a), abs(b)
            while b:
                a, b = b, a % b
            return a


        def lcm(a, b):
            if a == 0 or b == 0:
                return 0
            return abs(a * b) // gcd(a, b)
        ''', bug=[("a, b = b, a % b", "a, b = b, b % a")],
        cases={"gcd": [(12, 8), (8, 12), (7, 3), (0, 5), (5, 0), (-4, 6), (10, 10)],
               "lcm": [(4, 6), (3, 5), (0, 2), (12, 18)]}),

    dict(name="is_prime_bound", module="primes", kind="off-by-one range", code='''
        def is_prime(n):
            if n < 2:
                return False
            for d in range(2, int(n ** 0.5) + 1):
                if n % d == 0:
                    return False
            return True


        def primes_below(limit):
            return [n for n in range(limit) if is_prime(n)]
        ''', bug=[("int(n ** 0.5) + 1", "int(n ** 0.5)")],
        cases={"is_prime": [(1,), (2,), (3,), (4,), (9,), (25,), (29,), (49,), (97,)],
               "primes_below": [(20,), (2,), (50,)]}),

    dict(name="fibonacci_return", module="fib", kind="returned expression", code='''
        def fibonacci(n):
            """The n-th Fibonacci number, fibonacci(0) == 0."""
            if n < 0:
                raise ValueError("n must be >= 0")
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            return a
        ''', bug=[("    return a\n", "    return b\n")],
        cases={"fibonacci": [(0,), (1,), (2,), (5,), (10,), (-1,)]}),

    dict(name="merge_sorted_tail", module="merging", kind="missing statement (copy and adapt)", code='''
        def merge_sorted(left, right):
            out = []
            i = j = 0
            while i < len(left) and j < len(right):
                if left[i] <= right[j]:
                    out.append(left[i])
                    i += 1
                else:
                    out.append(right[j])
                    j += 1
            out.extend(left[i:])
            out.extend(right[j:])
            return out
        ''', bug=[("            out.extend(right[j:])\n", "")],
        cases={"merge_sorted": [([1, 4, 6], [2, 3, 5]), ([], [1, 2]), ([1, 2], []), ([1], [2, 3, 4]),
                                ([5, 6], [1, 2])]}),

    dict(name="kth_smallest_index", module="selection", kind="off-by-one index", code='''
        def kth_smallest(values, k):
            """The k-th smallest value, k counted from 1."""
            if not 1 <= k <= len(values):
                raise IndexError("k out of range")
            return sorted(values)[k - 1]
        ''', bug=[("sorted(values)[k - 1]", "sorted(values)[k]")],
        cases={"kth_smallest": [([3, 1, 2], 1), ([3, 1, 2], 3), ([5, 5, 1], 2), ([7], 1), ([1, 2], 0)]}),

    dict(name="flatten_extend", module="flatten", kind="changed call", code='''
        def flatten(items):
            """Nested lists flattened, depth first."""
            result = []
            for item in items:
                if isinstance(item, list):
                    result.extend(flatten(item))
                else:
                    result.append(item)
            return result
        ''', bug=[("result.extend(flatten(item))", "result.append(flatten(item))")],
        cases={"flatten": [([1, [2, 3], [[4]], 5],), ([],), ([[], [1]],), ([1, 2],)]}),

    dict(name="run_length_last", module="rle", kind="missing statement after loop", code='''
        def encode(text):
            """Run-length encoding: 'aaab' -> [['a', 3], ['b', 1]]."""
            runs = []
            prev, count = None, 0
            for ch in text:
                if ch == prev:
                    count += 1
                else:
                    if prev is not None:
                        runs.append([prev, count])
                    prev, count = ch, 1
            if prev is not None:
                runs.append([prev, count])
            return runs


        def decode(runs):
            return "".join(ch * n for ch, n in runs)
        ''', bug=[("""            if prev is not None:
                runs.append([prev, count])
            return runs""", """            return runs""")],
        cases={"encode": [("aaab",), ("",), ("abc",), ("aabbaa",), ("z",)], "decode": [([["a", 2], ["b", 1]],)]}),

    dict(name="roman_bounds", module="roman", kind="added condition clause", code='''
        VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


        def roman_to_int(text):
            total = 0
            for i, ch in enumerate(text):
                value = VALUES[ch]
                if i + 1 < len(text) and value < VALUES[text[i + 1]]:
                    total -= value
                else:
                    total += value
            return total
        ''', bug=[("if i + 1 < len(text) and value < VALUES[text[i + 1]]:", "if value < VALUES[text[i + 1]]:")],
        cases={"roman_to_int": [("III",), ("IV",), ("IX",), ("LVIII",), ("MCMXCIV",), ("X",)]}),

    dict(name="brackets_return", module="brackets", kind="returned expression", code='''
        PAIRS = {")": "(", "]": "[", "}": "{"}


        def balanced(text):
            stack = []
            for ch in text:
                if ch in "([{":
                    stack.append(ch)
                elif ch in PAIRS:
                    if not stack or stack.pop() != PAIRS[ch]:
                        return False
            return not stack
        ''', bug=[("return not stack", "return True")],
        cases={"balanced": [("()",), ("([]{})",), ("(",), ("(()",), ("(]",), ("",), ("a(b)c",)]}),

    dict(name="top_words_order", module="wordfreq", kind="missing negation in sort key", code='''
        from collections import Counter


        def top_words(text, k):
            """The k most frequent words (ties alphabetically), lower-cased."""
            counts = Counter(w.strip(".,!?").lower() for w in text.split())
            counts.pop("", None)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            return [word for word, _ in ranked[:k]]
        ''', bug=[("key=lambda kv: (-kv[1], kv[0])", "key=lambda kv: (kv[1], kv[0])")],
        cases={"top_words": [("the cat and the hat and the bat", 2), ("a b c", 2), ("Go go GO stop", 1),
                             ("", 3)]}),

    dict(name="levenshtein_cell", module="distance", kind="wrong index (ingredient nearby)", code='''
        def levenshtein(a, b):
            rows, cols = len(a) + 1, len(b) + 1
            d = [[0] * cols for _ in range(rows)]
            for i in range(rows):
                d[i][0] = i
            for j in range(cols):
                d[0][j] = j
            for i in range(1, rows):
                for j in range(1, cols):
                    cost = 0 if a[i - 1] == b[j - 1] else 1
                    d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            return d[-1][-1]
        ''', bug=[("d[i - 1][j - 1] + cost", "d[i - 1][j] + cost")],
        cases={"levenshtein": [("kitten", "sitting"), ("", "abc"), ("abc", "abc"), ("flaw", "lawn"), ("a", "b")]}),

    dict(name="newton_sqrt_loop", module="newton", kind="wrong constant (loops forever)", loops=True, code='''
        def sqrt(n, eps=1e-9):
            if n < 0:
                raise ValueError("negative")
            if n == 0:
                return 0.0
            x = float(n)
            while abs(x * x - n) > eps * n:
                x = (x + n / x) / 2
            return x
        ''', bug=[("x = (x + n / x) / 2", "x = (x + n / x) / 3")],
        cases={"sqrt": [(4,), (2,), (0,), (100,), (-1,)]}),

    dict(name="collatz_parity", module="collatz", kind="wrong constant (loops forever)", loops=True, code='''
        def collatz_steps(n):
            if n < 1:
                raise ValueError("n must be positive")
            steps = 0
            while n != 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                steps += 1
            return steps
        ''', bug=[("n % 2 == 0", "n % 2 == 1")],
        cases={"collatz_steps": [(1,), (6,), (7,), (27,), (0,)]}),

    dict(name="moving_average_window", module="smoothing", kind="off-by-one range", code='''
        def moving_average(values, window):
            if window <= 0:
                raise ValueError("window must be positive")
            return [sum(values[i:i + window]) / window for i in range(len(values) - window + 1)]
        ''', bug=[("range(len(values) - window + 1)", "range(len(values) - window)")],
        cases={"moving_average": [([1, 2, 3, 4], 2), ([1, 2, 3], 3), ([5], 1), ([1, 2], 3), ([1, 2], 0)]}),

    dict(name="transpose_indices", module="matrix", kind="swapped names (two edits)", code='''
        def transpose(m):
            if not m:
                return []
            rows, cols = len(m), len(m[0])
            return [[m[r][c] for r in range(rows)] for c in range(cols)]
        ''', bug=[("[[m[r][c] for r", "[[m[c][r] for r")],
        cases={"transpose": [([[1, 2, 3], [4, 5, 6]],), ([[1]],), ([],), ([[1, 2], [3, 4]],)]}),

    dict(name="dijkstra_weight", module="paths", kind="constant replaced by a name in scope", code='''
        import heapq


        def shortest_paths(graph, source):
            """Distances from source; graph maps node -> [[neighbour, weight], ...]."""
            dist = {source: 0}
            heap = [(0, source)]
            while heap:
                d, u = heapq.heappop(heap)
                if d > dist.get(u, float("inf")):
                    continue
                for v, w in graph.get(u, []):
                    nd = d + w
                    if nd < dist.get(v, float("inf")):
                        dist[v] = nd
                        heapq.heappush(heap, (nd, v))
            return dict(sorted(dist.items()))
        ''', bug=[("nd = d + w", "nd = d + 1")],
        cases={"shortest_paths": [({"a": [["b", 4], ["c", 1]], "c": [["b", 2]], "b": [["d", 5]]}, "a"),
                                  ({"a": []}, "a"), ({"a": [["b", 1]], "b": [["a", 1]]}, "b")]}),

    dict(name="toposort_indegree", module="toposort", kind="wrong constant", code='''
        def topological_order(nodes, edges):
            indegree = {n: 0 for n in nodes}
            children = {n: [] for n in nodes}
            for a, b in edges:
                children[a].append(b)
                indegree[b] += 1
            ready = sorted(n for n in nodes if indegree[n] == 0)
            order = []
            while ready:
                n = ready.pop(0)
                order.append(n)
                for c in children[n]:
                    indegree[c] -= 1
                    if indegree[c] == 0:
                        ready.append(c)
                        ready.sort()
            if len(order) != len(nodes):
                raise ValueError("cycle")
            return order
        ''', bug=[("if indegree[c] == 0:", "if indegree[c] == 1:")],
        cases={"topological_order": [(["a", "b", "c"], [["a", "b"], ["b", "c"]]),
                                     (["a", "b", "c", "d"], [["a", "c"], ["b", "c"], ["c", "d"]]),
                                     (["x"], []), (["a", "b"], [["a", "b"], ["b", "a"]])]}),

    dict(name="merge_intervals_max", module="intervals", kind="wrapped in a call (max)", code='''
        def merge_intervals(intervals):
            merged = []
            for start, end in sorted(intervals):
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            return merged
        ''', bug=[("merged[-1][1] = max(merged[-1][1], end)", "merged[-1][1] = end")],
        cases={"merge_intervals": [([[1, 3], [2, 6], [8, 10]],), ([[1, 10], [2, 3]],), ([],), ([[1, 2], [2, 3]],)]}),

    dict(name="two_sum_order", module="pairs", kind="swapped elements", code='''
        def two_sum(values, target):
            """Indexes [i, j], i < j, of the first pair adding up to target, or None."""
            seen = {}
            for j, x in enumerate(values):
                if target - x in seen:
                    return [seen[target - x], j]
                seen[x] = j
            return None
        ''', bug=[("return [seen[target - x], j]", "return [j, seen[target - x]]")],
        cases={"two_sum": [([2, 7, 11, 15], 9), ([3, 2, 4], 6), ([1, 2], 7), ([3, 3], 6)]}),

    dict(name="camel_to_snake_first", module="naming", kind="added condition clause", code='''
        def camel_to_snake(name):
            out = []
            for i, ch in enumerate(name):
                if ch.isupper() and i > 0:
                    out.append("_")
                out.append(ch.lower())
            return "".join(out)
        ''', bug=[("if ch.isupper() and i > 0:", "if ch.isupper():")],
        cases={"camel_to_snake": [("CamelCase",), ("camelCase",), ("already",), ("HTTPServer",), ("",)]}),

    dict(name="slugify_strip", module="slug", kind="changed call", code='''
        import re


        def slugify(text):
            return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        ''', bug=[('.strip("-")', '.lstrip("-")')],
        cases={"slugify": [("Hello, World!",), ("  spaced out  ",), ("already-slug",), ("--x--",)]}),

    dict(name="csv_quotes", module="csvline", kind="wrong value in state update", code='''
        def split_csv_line(line):
            fields, current, in_quotes = [], [], False
            for ch in line:
                if ch == '"':
                    in_quotes = not in_quotes
                elif ch == "," and not in_quotes:
                    fields.append("".join(current))
                    current = []
                else:
                    current.append(ch)
            fields.append("".join(current))
            return fields
        ''', bug=[("in_quotes = not in_quotes", "in_quotes = True")],
        cases={"split_csv_line": [('a,b,c',), ('"a,b",c',), ('x,"y",z',), ('',), ('"q"',)]}),

    dict(name="word_wrap_width", module="wrap", kind="comparison", code='''
        def wrap(text, width):
            lines, line = [], ""
            for word in text.split():
                if line and len(line) + 1 + len(word) > width:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            if line:
                lines.append(line)
            return lines
        ''', bug=[("len(line) + 1 + len(word) > width", "len(line) + 1 + len(word) >= width")],
        cases={"wrap": [("the quick brown fox", 9), ("a b c d", 3), ("", 5), ("word", 2), ("ab cd ef", 5)]}),

    dict(name="caesar_modulus", module="cipher", kind="wrong constant", code='''
        def caesar(text, shift):
            out = []
            for c in text:
                if c.isalpha():
                    base = ord("A") if c.isupper() else ord("a")
                    out.append(chr((ord(c) - base + shift) % 26 + base))
                else:
                    out.append(c)
            return "".join(out)
        ''', bug=[("% 26 + base", "% 25 + base")],
        cases={"caesar": [("abc", 1), ("xyz", 3), ("Hello, World", 13), ("", 4), ("Zz", 1)]}),

    dict(name="isbn_weights", module="isbn", kind="wrong constant", code='''
        def valid_isbn10(code):
            digits = code.replace("-", "")
            if len(digits) != 10:
                return False
            total = 0
            for i, ch in enumerate(digits):
                if ch == "X" and i == 9:
                    value = 10
                elif ch.isdigit():
                    value = int(ch)
                else:
                    return False
                total += (10 - i) * value
            return total % 11 == 0
        ''', bug=[("total += (10 - i) * value", "total += (9 - i) * value")],
        cases={"valid_isbn10": [("0-306-40615-2",), ("0306406153",), ("123456789X",), ("12345",), ("0-19-853453-1",)]}),

    dict(name="luhn_parity", module="luhn", kind="wrong constant", code='''
        def luhn_valid(number):
            digits = [int(c) for c in str(number) if c.isdigit()]
            total = 0
            for i, d in enumerate(reversed(digits)):
                if i % 2 == 1:
                    d *= 2
                    if d > 9:
                        d -= 9
                total += d
            return total % 10 == 0
        ''', bug=[("if i % 2 == 1:", "if i % 2 == 0:")],
        cases={"luhn_valid": [("4539 1488 0343 6467",), ("8273 1232 7352 0569",), ("79927398713",), ("0",),
                              ("49",), ("18",)]}),

    dict(name="bank_withdraw", module="bank", kind="augmented assignment operator", code='''
        class Account:
            def __init__(self, owner, balance=0):
                self.owner = owner
                self.balance = balance
                self.history = []

            def deposit(self, amount):
                if amount <= 0:
                    raise ValueError("amount must be positive")
                self.balance += amount
                self.history.append(["deposit", amount])
                return self.balance

            def withdraw(self, amount):
                if amount > self.balance:
                    raise ValueError("insufficient funds")
                self.balance -= amount
                self.history.append(["withdraw", amount])
                return self.balance

            def statement(self):
                return list(self.history)
        ''', bug=[("self.balance -= amount", "self.balance += amount")],
        scenarios={"Account": [(["ann", 100], [["withdraw", [30]], ["deposit", [5]], ["statement", []]]),
                               (["bob"], [["withdraw", [1]], ["deposit", [10]], ["withdraw", [10]]])]}),

    dict(name="lru_cache_touch", module="lru", kind="missing statement (copy from sibling method)", code='''
        from collections import OrderedDict


        class LRUCache:
            def __init__(self, capacity):
                self.capacity = capacity
                self.data = OrderedDict()

            def get(self, key):
                if key not in self.data:
                    return None
                self.data.move_to_end(key)
                return self.data[key]

            def put(self, key, value):
                if key in self.data:
                    self.data.move_to_end(key)
                self.data[key] = value
                if len(self.data) > self.capacity:
                    self.data.popitem(last=False)

            def keys(self):
                return list(self.data)
        ''', bug=[("""                    return None
                self.data.move_to_end(key)
""", """                    return None
""")],
        scenarios={"LRUCache": [([2], [["put", ["a", 1]], ["put", ["b", 2]], ["get", ["a"]], ["put", ["c", 3]],
                                       ["keys", []], ["get", ["b"]]]),
                                ([1], [["put", ["x", 1]], ["get", ["x"]], ["put", ["y", 2]], ["get", ["x"]]])]}),

    dict(name="min_stack_ties", module="minstack", kind="comparison", code='''
        class MinStack:
            def __init__(self):
                self.items = []
                self.mins = []

            def push(self, value):
                self.items.append(value)
                if not self.mins or value <= self.mins[-1]:
                    self.mins.append(value)

            def pop(self):
                value = self.items.pop()
                if value == self.mins[-1]:
                    self.mins.pop()
                return value

            def minimum(self):
                return self.mins[-1] if self.mins else None
        ''', bug=[("value <= self.mins[-1]", "value < self.mins[-1]")],
        scenarios={"MinStack": [([], [["push", [3]], ["push", [1]], ["push", [1]], ["pop", []], ["minimum", []]]),
                                ([], [["push", [2]], ["minimum", []], ["pop", []], ["minimum", []]])]}),

    dict(name="token_bucket_cap", module="ratelimit", kind="changed call (min/max)", code='''
        class TokenBucket:
            """Allows `rate` events per second, bursts up to `capacity`; time passed in explicitly."""

            def __init__(self, rate, capacity):
                self.rate = rate
                self.capacity = capacity
                self.tokens = capacity
                self.last = 0.0

            def allow(self, now):
                elapsed = now - self.last
                self.last = now
                self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
                if self.tokens >= 1:
                    self.tokens -= 1
                    return True
                return False
        ''', bug=[("self.tokens = min(self.capacity", "self.tokens = max(self.capacity")],
        scenarios={"TokenBucket": [([1, 2], [["allow", [0]], ["allow", [0]], ["allow", [0]], ["allow", [1.5]],
                                             ["allow", [100]], ["allow", [100]], ["allow", [100]]])]}),

    dict(name="vector_sub_attr", module="vector", kind="wrong attribute (ingredient nearby)", code='''
        class Vector:
            def __init__(self, x, y):
                self.x = x
                self.y = y

            def add(self, other):
                return Vector(self.x + other.x, self.y + other.y)

            def sub(self, other):
                return Vector(self.x - other.x, self.y - other.y)

            def dot(self, other):
                return self.x * other.x + self.y * other.y

            def as_list(self):
                return [self.x, self.y]


        def displacement(a, b):
            return Vector(*b).sub(Vector(*a)).as_list()
        ''', bug=[("self.y - other.y", "self.y - other.x")],
        cases={"displacement": [([0, 0], [3, 4]), ([1, 2], [1, 2]), ([5, 1], [2, 7])]}),

    dict(name="leap_year_clause", module="calendar_utils", kind="added condition clause", code='''
        def is_leap(year):
            return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


        def days_in_month(year, month):
            if month == 2:
                return 29 if is_leap(year) else 28
            return 30 if month in (4, 6, 9, 11) else 31
        ''', bug=[("year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)", "year % 4 == 0 and year % 100 != 0")],
        cases={"is_leap": [(2000,), (1900,), (2024,), (2023,)], "days_in_month": [(2000, 2), (2023, 2), (2024, 4)]}),

    dict(name="json_path_index", module="jsonpath", kind="wrapped in a call (int)", code='''
        def get_path(obj, path, default=None):
            """get_path({"a": [{"b": 1}]}, "a.0.b") == 1"""
            current = obj
            for part in path.split("."):
                if isinstance(current, list):
                    if not part.isdigit() or int(part) >= len(current):
                        return default
                    current = current[int(part)]
                elif isinstance(current, dict):
                    if part not in current:
                        return default
                    current = current[part]
                else:
                    return default
            return current
        ''', bug=[("current = current[int(part)]", "current = current[part]")],
        cases={"get_path": [({"a": [{"b": 1}]}, "a.0.b"), ({"a": {"b": 2}}, "a.b"), ({"a": [1, 2]}, "a.5"),
                            ({"a": [1, 2]}, "a.1"), ({}, "x")]}),

    dict(name="tokenizer_space_loop", module="tokenizer", kind="missing statement (loops forever)", loops=True,
         code='''
        def tokenize(expr):
            """'12 + 3*(4-1)' -> ['12', '+', '3', '*', '(', '4', '-', '1', ')']"""
            tokens = []
            i = 0
            while i < len(expr):
                ch = expr[i]
                if ch == " ":
                    i += 1
                    continue
                if ch.isdigit():
                    start = i
                    while i < len(expr) and expr[i].isdigit():
                        i += 1
                    tokens.append(expr[start:i])
                    continue
                if ch in "+-*/()":
                    tokens.append(ch)
                    i += 1
                    continue
                raise ValueError(f"unexpected {ch!r}")
            return tokens
        ''', bug=[("""                if ch == " ":
                    i += 1
                    continue""", """                if ch == " ":
                    continue""")],
        cases={"tokenize": [("12 + 3*(4-1)",), ("7",), ("1+2",), ("",), ("2 $ 3",)]}),

    dict(name="rotate_empty_guard", module="rotate", kind="missing guard", code='''
        def rotate(values, k):
            """values rotated right by k places."""
            if not values:
                return []
            k %= len(values)
            return values[-k:] + values[:-k] if k else list(values)
        ''', bug=[("""            if not values:
                return []
""", "")],
        cases={"rotate": [([1, 2, 3, 4], 1), ([1, 2, 3], 3), ([1, 2], 5), ([], 2), ([9], 0)]}),

    dict(name="pagination_start", module="paging", kind="off-by-one on a name", code='''
        def page(items, number, per_page):
            """Page `number` (from 1) of items, per_page at a time."""
            if number < 1 or per_page < 1:
                raise ValueError("pages and sizes start at 1")
            start = (number - 1) * per_page
            return items[start:start + per_page]


        def page_count(total, per_page):
            return (total + per_page - 1) // per_page
        ''', bug=[("start = (number - 1) * per_page", "start = number * per_page")],
        cases={"page": [(list(range(10)), 1, 3), (list(range(10)), 4, 3), (list(range(10)), 2, 5), ([], 1, 2)],
               "page_count": [(10, 3), (9, 3), (0, 5)]}),

    dict(name="two_stack_queue_loop", module="queue2", kind="wrong call (loops forever)", loops=True, code='''
        class Queue:
            """A FIFO queue made of two stacks."""

            def __init__(self):
                self.inbox = []
                self.outbox = []

            def push(self, value):
                self.inbox.append(value)

            def pop(self):
                if not self.outbox:
                    while self.inbox:
                        self.outbox.append(self.inbox.pop())
                if not self.outbox:
                    raise IndexError("pop from empty queue")
                return self.outbox.pop()

            def __len__(self):
                return len(self.inbox) + len(self.outbox)

            def size(self):
                return len(self)
        ''', bug=[("self.outbox.append(self.inbox.pop())", "self.outbox.append(self.inbox[-1])")],
        scenarios={"Queue": [([], [["push", [1]], ["push", [2]], ["pop", []], ["push", [3]], ["pop", []],
                                   ["pop", []], ["size", []]]),
                             ([], [["pop", []]])]}),

    dict(name="variance_sample", module="stats", kind="off-by-one on a call", code='''
        def mean(values):
            return sum(values) / len(values)


        def variance(values):
            """Sample variance (n - 1 in the denominator)."""
            if len(values) < 2:
                raise ValueError("need at least two values")
            m = mean(values)
            return sum((v - m) ** 2 for v in values) / (len(values) - 1)
        ''', bug=[("/ (len(values) - 1)", "/ len(values)")],
        cases={"mean": [([1, 2, 3],)], "variance": [([1, 2, 3, 4],), ([2, 2],), ([1, 5, 9],), ([1],)]}),

    dict(name="dedupe_order", module="dedupe", kind="added condition clause", code='''
        def duplicates(values):
            """Each value that occurs more than once, once, in order of its second occurrence."""
            seen, dups = set(), []
            for v in values:
                if v in seen and v not in dups:
                    dups.append(v)
                seen.add(v)
            return dups
        ''', bug=[("if v in seen and v not in dups:", "if v in seen:")],
        cases={"duplicates": [([1, 2, 1, 3, 2, 1],), ([],), ([1, 2, 3],), (["a", "a", "a"],)]}),

    dict(name="histogram_last_bin", module="histogram", kind="wrapped in a call (min, ingredient)", code='''
        def histogram(values, lo, hi, bins):
            counts = [0] * bins
            width = (hi - lo) / bins
            for x in values:
                if lo <= x <= hi:
                    idx = min(int((x - lo) / width), bins - 1)
                    counts[idx] += 1
            return counts
        ''', bug=[("idx = min(int((x - lo) / width), bins - 1)", "idx = int((x - lo) / width)")],
        cases={"histogram": [([1, 2, 3, 4, 5], 0, 5, 5), ([0, 10], 0, 10, 2), ([], 0, 1, 3), ([7], 0, 5, 5)]}),

    dict(name="compress_advance_loop", module="compress", kind="missing statement (loops forever)", loops=True,
         code='''
        def compress(text):
            """'aabccc' -> 'a2bc3'"""
            out = []
            i = 0
            while i < len(text):
                j = i
                while j < len(text) and text[j] == text[i]:
                    j += 1
                run = j - i
                out.append(text[i] + (str(run) if run > 1 else ""))
                i = j
            return "".join(out)
        ''', bug=[("                i = j\n", "")],
        cases={"compress": [("aabccc",), ("",), ("abc",), ("zzzz",)]}),

    dict(name="inventory_remove", module="inventory", kind="comparison in guard", code='''
        class Inventory:
            def __init__(self):
                self.stock = {}

            def add(self, item, qty):
                self.stock[item] = self.stock.get(item, 0) + qty
                return self.stock[item]

            def remove(self, item, qty):
                have = self.stock.get(item, 0)
                if qty > have:
                    raise ValueError(f"only {have} {item} in stock")
                if have - qty == 0:
                    del self.stock[item]
                else:
                    self.stock[item] = have - qty
                return have - qty

            def items(self):
                return sorted(self.stock.items())
        ''', bug=[("if qty > have:", "if qty >= have:")],
        scenarios={"Inventory": [([], [["add", ["apple", 3]], ["remove", ["apple", 3]], ["items", []]]),
                                 ([], [["add", ["pear", 2]], ["remove", ["pear", 1]], ["remove", ["pear", 5]],
                                       ["items", []]])]}),

    dict(name="chunk_step", module="chunks", kind="wrong name in range step", code='''
        def chunked(values, size):
            if size < 1:
                raise ValueError("size must be positive")
            return [values[i:i + size] for i in range(0, len(values), size)]
        ''', bug=[("range(0, len(values), size)", "range(0, len(values))")],
        cases={"chunked": [([1, 2, 3, 4, 5], 2), ([], 3), ([1, 2, 3], 3), ([1], 0)]}),

    dict(name="palindrome_clean", module="palindrome", kind="changed call", code='''
        def is_palindrome(text):
            cleaned = [c.lower() for c in text if c.isalnum()]
            return cleaned == cleaned[::-1]
        ''', bug=[("cleaned = [c.lower() for c in text if c.isalnum()]", "cleaned = [c.lower() for c in text if c.isalpha()]")],
        cases={"is_palindrome": [("A man, a plan, a canal: Panama",), ("race a car",), ("",), ("12321",),
                                 ("1a2",)]}),

    dict(name="celsius_formula", module="temperature", kind="wrong operator precedence (two edits)", code='''
        def to_fahrenheit(celsius):
            return celsius * 9 / 5 + 32


        def to_celsius(fahrenheit):
            return (fahrenheit - 32) * 5 / 9
        ''', bug=[("(fahrenheit - 32) * 5 / 9", "fahrenheit - 32 * 5 / 9")],
        cases={"to_fahrenheit": [(0,), (100,), (-40,)], "to_celsius": [(32,), (212,), (-40,), (98.6,)]}),
]
