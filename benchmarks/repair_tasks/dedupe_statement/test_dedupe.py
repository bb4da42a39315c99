from dedupe import dedupe

def test_dedupe():
    assert dedupe([1, 2, 1, 3, 2]) == [1, 2, 3]

def test_empty():
    assert dedupe([]) == []
