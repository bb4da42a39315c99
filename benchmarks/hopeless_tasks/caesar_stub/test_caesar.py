from caesar import shift

def test_abc():
    assert shift("abc", 1) == "bcd"

def test_wrap():
    assert shift("xyz", 3) == "abc"

def test_words():
    assert shift("hello world", 13) == "uryyb jbeyq"
