from words import word_counts

def test_repeat():
    assert word_counts("a b a") == {"a": 2, "b": 1}

def test_case():
    assert word_counts("A a") == {"a": 2}

def test_punctuation():
    assert word_counts("hi, hi.") == {"hi": 2}
