def sqrt(n, eps=1e-9):
    if n < 0:
        raise ValueError("negative")
    if n == 0:
        return 0.0
    x = float(n)
    while abs(x * x - n) > eps * n:
        x = (x + n / x) / 3
    return x
