from wordfreq import top, words


def test_words():
    assert words("It's a Test, a test!") == ["it's", "a", "test", "a", "test"]


def test_top():
    assert top("b a b c b a", 2) == [("b", 3), ("a", 2)]
