def primes_below(n):
    return [k for k in range(2, n) if k % 2]
