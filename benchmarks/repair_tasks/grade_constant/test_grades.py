from grades import grade

def test_a():
    assert grade(95) == "A"

def test_b():
    assert grade(85) == "B"

def test_c_boundary():
    assert grade(70) == "C"

def test_f():
    assert grade(12) == "F"
