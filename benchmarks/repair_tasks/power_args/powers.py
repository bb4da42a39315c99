def power(base, exp):
    result = 1
    for _ in range(exp):
        result *= base
    return result


def square_of(x):
    return power(2, x)
