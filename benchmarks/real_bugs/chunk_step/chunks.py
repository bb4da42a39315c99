def chunked(values, size):
    if size < 1:
        raise ValueError("size must be positive")
    return [values[i:i + size] for i in range(0, len(values))]
