from ranges import countdown, evens

def test_evens():
    assert evens(7) == [0, 2, 4, 6]

def test_countdown():
    assert countdown(3) == [3, 2, 1]
