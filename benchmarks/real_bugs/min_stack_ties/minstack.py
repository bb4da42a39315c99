class MinStack:
    def __init__(self):
        self.items = []
        self.mins = []

    def push(self, value):
        self.items.append(value)
        if not self.mins or value < self.mins[-1]:
            self.mins.append(value)

    def pop(self):
        value = self.items.pop()
        if value == self.mins[-1]:
            self.mins.pop()
        return value

    def minimum(self):
        return self.mins[-1] if self.mins else None
