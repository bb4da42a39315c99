def flatten(items):
    """Nested lists flattened, depth first."""
    result = []
    for item in items:
        if isinstance(item, list):
            result.append(flatten(item))
        else:
            result.append(item)
    return result
