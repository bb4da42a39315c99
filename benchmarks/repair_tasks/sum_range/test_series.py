from series import sum_to

def test_small():
    assert sum_to(1) == 1

def test_ten():
    assert sum_to(10) == 55
