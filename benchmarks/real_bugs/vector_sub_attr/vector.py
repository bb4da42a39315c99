class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def sub(self, other):
        return Vector(self.x - other.x, self.y - other.x)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    def as_list(self):
        return [self.x, self.y]


def displacement(a, b):
    return Vector(*b).sub(Vector(*a)).as_list()
