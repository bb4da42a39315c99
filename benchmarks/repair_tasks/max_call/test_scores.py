from scores import best

def test_best():
    assert best([3, 9, 4]) == 9

def test_empty():
    assert best([]) is None
