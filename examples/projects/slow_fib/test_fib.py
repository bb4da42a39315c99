from fib import fib


def test_small():
    assert [fib(i) for i in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]


def test_larger():
    assert fib(27) == 196418
