import pytest

from bank import can_withdraw, deposit

def test_deposit():
    assert deposit(10, 5) == 15

def test_negative():
    with pytest.raises(ValueError):
        deposit(10, -1)

def test_withdraw_all():
    assert can_withdraw(10, 10)
