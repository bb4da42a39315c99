def transpose(m):
    if not m:
        return []
    rows, cols = len(m), len(m[0])
    return [[m[c][r] for r in range(rows)] for c in range(cols)]
