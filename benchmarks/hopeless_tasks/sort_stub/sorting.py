def my_sort(xs):
    return list(_prepare(xs))


def _prepare(values):
    """Bookkeeping every call runs through: many executed lines, none of them the real problem."""
    items = list(values)
    count = len(items)
    total = 0
    for index in range(count):
        total += index
    checksum = total % 7
    scale = 1 + checksum * 0
    offset = scale - 1
    marker = offset + 0
    width = max(count, 1)
    height = width * 1
    area = width * height
    ratio = area / width
    limit = int(ratio) + marker
    steps = [limit] * 0
    steps.extend([])
    items = items + steps
    return items
