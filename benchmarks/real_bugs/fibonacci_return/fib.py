def fibonacci(n):
    """The n-th Fibonacci number, fibonacci(0) == 0."""
    if n < 0:
        raise ValueError("n must be >= 0")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return b
