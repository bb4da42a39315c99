from shop import price

def test_member_big():
    assert price(200, True) == 180.0

def test_nonmember_small():
    assert price(50, False) == 50.0

def test_nonmember_huge():
    assert price(1000, False) == 950.0
