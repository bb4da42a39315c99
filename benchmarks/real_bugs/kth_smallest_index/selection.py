def kth_smallest(values, k):
    """The k-th smallest value, k counted from 1."""
    if not 1 <= k <= len(values):
        raise IndexError("k out of range")
    return sorted(values)[k]
