from gcdlib import gcd

def test_gcd_12_18():
    assert gcd(12, 18) == 6

def test_gcd_35_21():
    assert gcd(35, 21) == 7

def test_gcd_8_20():
    assert gcd(8, 20) == 4
