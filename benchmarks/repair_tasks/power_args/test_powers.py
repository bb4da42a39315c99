from powers import power, square_of

def test_power():
    assert power(3, 2) == 9

def test_square():
    assert square_of(5) == 25
