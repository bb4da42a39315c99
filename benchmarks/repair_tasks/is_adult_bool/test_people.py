from people import can_vote

def test_adult_citizen():
    assert can_vote(30, True)

def test_child_citizen():
    assert not can_vote(10, True)

def test_adult_foreigner():
    assert not can_vote(30, False)
