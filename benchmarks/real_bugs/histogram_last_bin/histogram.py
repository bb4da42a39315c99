def histogram(values, lo, hi, bins):
    counts = [0] * bins
    width = (hi - lo) / bins
    for x in values:
        if lo <= x <= hi:
            idx = int((x - lo) / width)
            counts[idx] += 1
    return counts
