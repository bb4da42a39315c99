from clamp import clamp

def test_inside():
    assert clamp(5, 0, 10) == 5

def test_low():
    assert clamp(-3, 0, 10) == 0

def test_high():
    assert clamp(42, 0, 10) == 10
