def price(total, member):
    discount = 0.0
    if member and total > 100:
        discount = 0.1
    elif total > 500:
        discount = 0.05
    return round(total * (1 + discount), 2)
