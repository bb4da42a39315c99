def rotate(values, k):
    """values rotated right by k places."""
    k %= len(values)
    return values[-k:] + values[:-k] if k else list(values)
