from text2 import initials, shout

def test_shout():
    assert shout("hey") == "HEY!"

def test_initials():
    assert initials("Ada King Lovelace") == "AKL"
