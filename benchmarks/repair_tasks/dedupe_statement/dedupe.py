def dedupe(items):
    seen = set()
    out = []
    for item in items:
        if item in seen:
            continue
        out.append(item)
    return out
