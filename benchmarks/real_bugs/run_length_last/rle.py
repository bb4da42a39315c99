def encode(text):
    """Run-length encoding: 'aaab' -> [['a', 3], ['b', 1]]."""
    runs = []
    prev, count = None, 0
    for ch in text:
        if ch == prev:
            count += 1
        else:
            if prev is not None:
                runs.append([prev, count])
            prev, count = ch, 1
    return runs


def decode(runs):
    return "".join(ch * n for ch, n in runs)
