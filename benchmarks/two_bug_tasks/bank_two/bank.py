def deposit(balance, amount):
    if amount < 0:
        raise ValueError("negative deposit")
    return balance - amount


def can_withdraw(balance, amount):
    return amount < balance
