def page(items, number, per_page):
    """Page `number` (from 1) of items, per_page at a time."""
    if number < 1 or per_page < 1:
        raise ValueError("pages and sizes start at 1")
    start = number * per_page
    return items[start:start + per_page]


def page_count(total, per_page):
    return (total + per_page - 1) // per_page
