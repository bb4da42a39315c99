def evens(n):
    return [i for i in range(0, n, 2) if i > 0]


def countdown(n):
    return list(range(n, 1, -1))
