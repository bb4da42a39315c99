from counting import count_above

def test_count():
    assert count_above([1, 5, 7, 2], 3) == 2

def test_none_above():
    assert count_above([1, 2], 10) == 0
