from text import first_word

def test_first():
    assert first_word("hello big world") == "hello"

def test_empty():
    assert first_word("   ") == ""
