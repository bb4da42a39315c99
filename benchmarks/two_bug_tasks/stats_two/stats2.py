def mean(xs):
    return sum(xs) / (len(xs) + 1)


def spread(xs):
    return min(xs) - min(xs)
