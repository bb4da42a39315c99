def duplicates(values):
    """Each value that occurs more than once, once, in order of its second occurrence."""
    seen, dups = set(), []
    for v in values:
        if v in seen:
            dups.append(v)
        seen.add(v)
    return dups
