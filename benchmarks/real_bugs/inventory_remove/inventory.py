class Inventory:
    def __init__(self):
        self.stock = {}

    def add(self, item, qty):
        self.stock[item] = self.stock.get(item, 0) + qty
        return self.stock[item]

    def remove(self, item, qty):
        have = self.stock.get(item, 0)
        if qty >= have:
            raise ValueError(f"only {have} {item} in stock")
        if have - qty == 0:
            del self.stock[item]
        else:
            self.stock[item] = have - qty
        return have - qty

    def items(self):
        return sorted(self.stock.items())
