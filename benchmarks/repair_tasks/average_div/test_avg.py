from avg import average

def test_empty():
    assert average([]) == 0.0

def test_halves():
    assert average([1, 2]) == 1.5

def test_ints():
    assert average([2, 4, 6]) == 4
