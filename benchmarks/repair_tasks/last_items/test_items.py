from items import last

def test_last_two():
    assert last([1, 2, 3, 4], 2) == [3, 4]

def test_last_one():
    assert last([1, 2, 3], 1) == [3]

def test_none():
    assert last([1, 2], 0) == []
