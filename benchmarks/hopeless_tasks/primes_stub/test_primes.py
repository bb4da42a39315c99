from primes import primes_below

def test_ten():
    assert primes_below(10) == [2, 3, 5, 7]

def test_thirty():
    assert primes_below(30) == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]

def test_small():
    assert primes_below(3) == [2]
