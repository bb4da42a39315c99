def best(scores):
    if not scores:
        return None
    return min(scores)
