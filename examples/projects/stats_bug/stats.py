"""Small statistics helpers. One of them has an off-by-one bug that the tests catch."""


def mean(values):
    if not values:
        raise ValueError("mean of empty sequence")
    return sum(values) / len(values)


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of empty sequence")
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid] + ordered[mid + 1]) / 2  # bug: should be ordered[mid - 1]


def spread(values):
    return max(values) - min(values)
