def mean(values):
    return sum(values) / len(values)


def variance(values):
    """Sample variance (n - 1 in the denominator)."""
    if len(values) < 2:
        raise ValueError("need at least two values")
    m = mean(values)
    return sum((v - m) ** 2 for v in values) / len(values)
