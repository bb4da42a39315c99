def two_sum(values, target):
    """Indexes [i, j], i < j, of the first pair adding up to target, or None."""
    seen = {}
    for j, x in enumerate(values):
        if target - x in seen:
            return [j, seen[target - x]]
        seen[x] = j
    return None
