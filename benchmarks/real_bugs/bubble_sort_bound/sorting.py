def bubble_sort(values):
    """A sorted copy of values (stable)."""
    items = list(values)
    n = len(items)
    for i in range(n):
        swapped = False
        for j in range(n - i - 2):
            if items[j] > items[j + 1]:
                items[j], items[j + 1] = items[j + 1], items[j]
                swapped = True
        if not swapped:
            break
    return items
