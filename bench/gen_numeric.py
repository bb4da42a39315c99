"""Families of numeric helpers for `chain generate`: range checks, binary search, running totals, gcd/lcm,
prices in cents, and stair climbing (whose slow form is a pure exponential recursion)."""

from __future__ import annotations

import random

from .families import Case, SlowForm, Unit, pick, render


def ranges(rng: random.Random) -> Unit:
    clamp, inside, distance = (
        pick(rng, o)
        for o in (("clamp", "bound", "fit_into"), ("inside", "in_range", "within"), ("distance", "gap", "overshoot"))
    )
    x, lo, hi = pick(rng, (("value", "low", "high"), ("x", "lo", "hi"), ("n", "minimum", "maximum")))
    text = render(
        '''
        def $clamp($x, $lo, $hi):
            """Return $x moved into the closed range [$lo, $hi]."""
            if $x < $lo:  #@ $x < $lo ~~ $x > $lo
                return $lo  #@ return $lo ~~ return $x
            if $x > $hi:  #@ $x > $hi ~~ $x < $hi
                return $hi  #@ return $hi ~~ return $lo
            return $x


        def $inside($x, $lo, $hi):
            """True when $x lies in the closed range [$lo, $hi]."""
            return $lo <= $x <= $hi  #@ $lo <= $x ~~ $lo < $x ;; $x <= $hi ~~ $x < $hi


        def $distance($x, $lo, $hi):
            """How far $x lies outside the range [$lo, $hi]; 0 inside it."""
            if $x < $lo:
                return $lo - $x  #@ $lo - $x ~~ $lo + $x
            if $x > $hi:
                return $x - $hi  #@ $x - $hi ~~ $x + $hi
            return 0  #@ return 0 ~~ return 1
        ''',
        clamp=clamp,
        inside=inside,
        distance=distance,
        x=x,
        lo=lo,
        hi=hi,
    )
    low = rng.randint(-20, 10)
    high = low + rng.randint(6, 40)
    points = {
        "below": low - rng.randint(1, 9),
        "above": high + rng.randint(1, 9),
        "inside": rng.randint(low + 1, high - 1),
        "at_low": low,
        "at_high": high,
    }
    cases = [Case(clamp, k, f"{clamp}({v}, {low}, {high})") for k, v in points.items()]
    cases += [Case(inside, k, f"{inside}({v}, {low}, {high})") for k, v in points.items()]
    cases += [Case(distance, k, f"{distance}({points[k]}, {low}, {high})") for k in ("below", "above", "inside")]
    bench = ("for i in range(-60000, 60000):", f"    {clamp}(i, -100, 100)", f"    {distance}(i, -100, 100)")
    return Unit(
        "ranges", pick(rng, ("ranges", "bounds", "limits")), text, (clamp, inside, distance), tuple(cases), bench
    )


def search(rng: random.Random) -> Unit:
    find, below = (pick(rng, o) for o in (("find", "index_of", "locate"), ("count_below", "rank", "smaller_than")))
    items, target = pick(rng, (("items", "target"), ("values", "wanted"), ("sorted_items", "needle")))
    text = render(
        '''
        def $find($items, $target):
            """Index of $target in the sorted list $items, or -1 when it is absent."""
            lo = 0
            hi = len($items) - 1  #@ len($items) - 1 ~~ len($items) - 2
            while lo <= hi:  #@ lo <= hi ~~ lo < hi
                mid = (lo + hi) // 2
                if $items[mid] == $target:  #@ == ~~ !=
                    return mid
                if $items[mid] < $target:  #@ < ~~ >
                    lo = mid + 1  #@ mid + 1 ~~ mid + 2
                else:
                    hi = mid - 1  #@ mid - 1 ~~ mid - 2
            return -1


        def $below($items, $target):
            """How many items of the sorted list $items are smaller than $target."""
            lo, hi = 0, len($items)
            while lo < hi:
                mid = (lo + hi) // 2
                if $items[mid] < $target:  #@ < ~~ <=
                    lo = mid + 1
                else:
                    hi = mid
            return lo
        ''',
        find=find,
        below=below,
        items=items,
        target=target,
    )
    data = sorted(rng.sample(range(-30, 90), rng.randint(7, 12)))
    gaps = [v for v in range(data[0] + 1, data[-1]) if v not in data]
    absent = gaps[rng.randrange(len(gaps))] if gaps else data[-1] + 5
    middle = data[rng.randint(1, len(data) - 2)]
    probes = {
        "first": data[0],
        "last": data[-1],
        "middle": middle,
        "second": data[1],
        "absent_between": absent,
        "absent_low": data[0] - rng.randint(1, 5),
        "absent_high": data[-1] + rng.randint(1, 5),
    }
    cases = [Case(find, k, f"{find}({data}, {v})") for k, v in probes.items()]
    cases += [
        Case(below, k, f"{below}({data}, {probes[k]})")
        for k in ("middle", "last", "absent_between", "absent_low", "absent_high")
    ]
    cases.append(Case(find, "empty", f"{find}([], {middle})"))
    bench = (
        "data = list(range(0, 200000, 2))",
        "for q in range(0, 200000, 7):",
        f"    {find}(data, q)",
        f"    {below}(data, q)",
    )
    return Unit("search", pick(rng, ("search", "lookup", "sorted_find")), text, (find, below), tuple(cases), bench)


def totals(rng: random.Random) -> Unit:
    running, windows, best = (
        pick(rng, o)
        for o in (
            ("running_totals", "prefix_sums", "cumulative"),
            ("window_sums", "moving_sums", "chunk_sums"),
            ("best_window", "max_window", "peak_window"),
        )
    )
    values, item = pick(rng, (("values", "value"), ("numbers", "number"), ("amounts", "amount")))
    size = pick(rng, ("size", "width", "span"))
    text = render(
        '''
        def $running($values):
            """Prefix sums: item i is the sum of $values[0] to $values[i]."""
            totals = []
            total = 0  #@ total = 0 ~~ total = 1
            for $item in $values:
                total = total + $item  #@ total + $item ~~ total - $item
                totals.append(total)  #@ append ~~ extend
            return totals


        def $windows($values, $size):
            """Sums of every run of $size consecutive values, from left to right."""
            sums = []
            for start in range(len($values) - $size + 1):  #@ len($values) - $size + 1 ~~ len($values) - $size
                sums.append(sum($values[start:start + $size]))  #@ start:start + $size ~~ start:start + $size - 1
            return sums


        def $best($values, $size):
            """The largest sum of $size consecutive values."""
            return max($windows($values, $size))  #@ max( ~~ min(
        ''',
        running=running,
        windows=windows,
        best=best,
        values=values,
        item=item,
        size=size,
    )
    data = [rng.randint(-9, 25) for _ in range(rng.randint(6, 9))]
    other = [rng.randint(-20, 20) for _ in range(rng.randint(5, 8))]
    width = rng.randint(2, 4)
    cases = [
        Case(running, "values", f"{running}({data})"),
        Case(running, "empty", f"{running}([])"),
        Case(running, "single", f"{running}([{rng.randint(1, 50)}])"),
        Case(windows, "values", f"{windows}({data}, {width})"),
        Case(windows, "whole", f"{windows}({data}, {len(data)})"),
        Case(windows, "ones", f"{windows}({other}, 1)"),
        Case(best, "values", f"{best}({data}, {width})"),
        Case(best, "mixed", f"{best}({other}, 2)"),
    ]
    bench = ("data = list(range(3000))", f"{windows}(data, 50)", f"{running}(list(range(300000)))")
    return Unit("totals", pick(rng, ("totals", "sums", "series")), text, (running, windows, best), tuple(cases), bench)


def divisors(rng: random.Random) -> Unit:
    gcd, lcm, reduce = (
        pick(rng, o)
        for o in (
            ("gcd", "greatest_divisor", "common_divisor"),
            ("lcm", "least_multiple", "common_multiple"),
            ("reduce_fraction", "lowest_terms", "simplify"),
        )
    )
    a, b = pick(rng, (("a", "b"), ("x", "y"), ("m", "n")))
    num, den = pick(rng, (("num", "den"), ("top", "bottom"), ("numerator", "denominator")))
    text = render(
        '''
        def $gcd($a, $b):
            """Greatest common divisor of two non-negative integers ($gcd(0, 0) is 0)."""
            while $b != 0:  #@ $b != 0 ~~ $b == 0
                $a, $b = $b, $a % $b  #@ $a % $b ~~ $a // $b
            return $a  #@ return $a ~~ return $b


        def $lcm($a, $b):
            """Least common multiple of two non-negative integers; 0 when either is 0."""
            if $a == 0 or $b == 0:  #@ or ~~ and
                return 0
            return $a * $b // $gcd($a, $b)  #@ // ~~ %


        def $reduce($num, $den):
            """The fraction $num/$den in lowest terms as a (numerator, denominator) pair; $den > 0."""
            common = $gcd($num, $den)
            return ($num // common, $den // common)  #@ $den // common ~~ $num // common
        ''',
        gcd=gcd,
        lcm=lcm,
        reduce=reduce,
        a=a,
        b=b,
        num=num,
        den=den,
    )
    primes = (2, 3, 5, 7, 11, 13)
    g = rng.randint(2, 12)
    p, q = rng.sample(primes, 2)
    n = rng.randint(3, 60)
    cases = [
        Case(gcd, "shared", f"{gcd}({g * p}, {g * q})"),
        Case(gcd, "coprime", f"{gcd}({p * p}, {q})"),
        Case(gcd, "zero_right", f"{gcd}({n}, 0)"),
        Case(gcd, "zero_left", f"{gcd}(0, {n})"),
        Case(lcm, "shared", f"{lcm}({g * p}, {g * q})"),
        Case(lcm, "zero", f"{lcm}(0, {n})"),
        Case(lcm, "same", f"{lcm}({n}, {n})"),
        Case(reduce, "shared", f"{reduce}({g * p}, {g * q})"),
        Case(reduce, "whole", f"{reduce}({n * g}, {g})"),
        Case(reduce, "zero", f"{reduce}(0, {q})"),
    ]
    bench = ("for i in range(1, 300):", "    for j in range(1, 300):", f"        {gcd}(i, j)", f"        {lcm}(i, j)")
    return Unit("divisors", pick(rng, ("divisors", "gcdlib", "ratios")), text, (gcd, lcm, reduce), tuple(cases), bench)


def pricing(rng: random.Random) -> Unit:
    discounted, with_tax, total = (
        pick(rng, o)
        for o in (
            ("discounted", "apply_discount", "sale_price"),
            ("with_tax", "gross_price", "add_tax"),
            ("order_total", "checkout_total", "basket_total"),
        )
    )
    cents, percent, rate = pick(
        rng, (("cents", "percent", "rate"), ("price", "pct", "tax"), ("amount", "off", "tax_rate"))
    )
    prices, threshold = pick(rng, (("prices", "threshold"), ("items", "minimum"), ("amounts", "limit")))
    pct = rng.randint(5, 30)
    text = render(
        '''
        def $discounted($cents, $percent):
            """Price in cents after a $percent % discount, rounded down to a whole cent."""
            return $cents * (100 - $percent) // 100  #@ 100 - $percent ~~ 100 + $percent ;; // 100 ~~ % 100


        def $with_tax($cents, $rate):
            """Price in cents plus $rate % tax, rounded to the nearest cent (halves up)."""
            return ($cents * (100 + $rate) + 50) // 100  #@ 100 + $rate ~~ 100 - $rate ;; + 50 ~~ - 50


        def $total($prices, $threshold):
            """Sum of $prices in cents, with $pct % off the whole order once it reaches $threshold cents."""
            total = sum($prices)
            if total >= $threshold:  #@ >= ~~ >
                total = $discounted(total, $pct)  #@ , $pct) ~~ , $pct_up)
            return total
        ''',
        discounted=discounted,
        with_tax=with_tax,
        total=total,
        cents=cents,
        percent=percent,
        rate=rate,
        prices=prices,
        threshold=threshold,
        pct=pct,
        pct_up=pct + 1,
    )
    limit = rng.randint(20, 80) * 100
    small = [rng.randint(100, 999) for _ in range(3)]
    part = rng.randint(1000, limit - 1000)
    big = [rng.randint(limit // 2, limit) for _ in range(3)]
    price = rng.randint(1000, 9999)
    cases = [
        Case(discounted, "typical", f"{discounted}({price}, {rng.randint(5, 40)})"),
        Case(discounted, "odd_cents", f"{discounted}({rng.randint(100, 999) * 2 + 1}, {rng.randint(5, 40)})"),
        Case(discounted, "none", f"{discounted}({price}, 0)"),
        Case(with_tax, "typical", f"{with_tax}({price}, {rng.randint(5, 25)})"),
        Case(with_tax, "rounding", f"{with_tax}({rng.randint(10, 99) * 10 + 5}, 10)"),
        Case(with_tax, "none", f"{with_tax}({price}, 0)"),
        Case(total, "below", f"{total}({small}, {limit})"),
        Case(total, "at_threshold", f"{total}({[part, limit - part]}, {limit})"),
        Case(total, "above", f"{total}({big}, {limit})"),
    ]
    bench = (
        "for c in range(1, 120000):",
        f"    {discounted}(c, 15)",
        f"    {with_tax}(c, 8)",
        f"{total}(list(range(100000)), 5000)",
    )
    return Unit(
        "pricing",
        pick(rng, ("pricing", "checkout", "prices")),
        text,
        (discounted, with_tax, total),
        tuple(cases),
        bench,
    )


def _recursive_calls(n: int, k: int) -> int:
    """How many calls the naive recursion of `stairs` makes for n (k step sizes)."""
    calls = [1] * (n + 1)  # calls[i] for i >= 0; any negative argument is one call
    for i in range(1, n + 1):
        calls[i] = 1 + sum(calls[i - s] if i - s >= 0 else 1 for s in range(1, k + 1))
    return calls[n]


def stairs(rng: random.Random) -> Unit:
    ways, fewest = (
        pick(rng, o) for o in (("ways", "climbs", "stair_ways"), ("fewest_moves", "min_moves", "shortest_climb"))
    )
    n = pick(rng, ("n", "count", "height"))
    k = pick(rng, (2, 3))
    names = dict(ways=ways, fewest=fewest, n=n, k=k, kp1=k + 1, km1=k - 1)
    doc = '"""Number of ways to climb a staircase of `$n` stairs taking 1 to $k steps at a time."""'
    fewest_text = '''

        def $fewest($n):
            """Fewest moves to climb a staircase of `$n` stairs taking at most $k steps at a time."""
            return ($n + $km1) // $k  #@ + $km1) ~~ + $k)
        '''
    text = render(
        """
        def $ways($n):
            """
        + doc
        + """
            counts = [1] + [0] * $n
            for i in range(1, $n + 1):  #@ range(1, $n + 1) ~~ range(1, $n)
                for step in range(1, $kp1):  #@ range(1, $kp1) ~~ range(1, $k)
                    if step <= i:  #@ <= ~~ <
                        counts[i] = counts[i] + counts[i - step]  #@ i - step ~~ i + step
            return counts[$n]
        """
        + fewest_text,
        **names,
    )
    terms = " + ".join(f"{ways}({n} - {s})" for s in range(1, k + 1))
    slow_text = render(
        """
        def $ways($n):
            """
        + doc
        + """
            if $n < 0:
                return 0
            if $n == 0:
                return 1
            return $terms
        """
        + fewest_text,
        terms=terms,
        **names,
    )
    big = next(m for m in range(10, 60) if _recursive_calls(m, k) >= 5_000_000)
    cases = [
        Case(ways, "zero", f"{ways}(0)"),
        Case(ways, "one", f"{ways}(1)"),
        Case(ways, "few", f"{ways}({rng.randint(3, 5)})"),
        Case(ways, "more", f"{ways}({rng.randint(9, 13)})"),
        Case(fewest, "exact", f"{fewest}({k * rng.randint(2, 9)})"),
        Case(fewest, "remainder", f"{fewest}({k * rng.randint(2, 9) + 1})"),
        Case(fewest, "zero", f"{fewest}(0)"),
    ]
    bench = (f"{ways}({big})", "for h in range(200000):", f"    {fewest}(h)")
    slow = SlowForm(ways, slow_text, "memoize", "exponential->linear", 3.0)
    return Unit("stairs", pick(rng, ("stairs", "climb", "steps")), text, (ways, fewest), tuple(cases), bench, slow)


FAMILIES = (ranges, search, totals, divisors, pricing, stairs)
