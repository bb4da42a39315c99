def last(items, k):
    if k <= 0:
        return []
    return items[-k + 1:]
