def tokenize(expr):
    """'12 + 3*(4-1)' -> ['12', '+', '3', '*', '(', '4', '-', '1', ')']"""
    tokens = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch == " ":
            continue
        if ch.isdigit():
            start = i
            while i < len(expr) and expr[i].isdigit():
                i += 1
            tokens.append(expr[start:i])
            continue
        if ch in "+-*/()":
            tokens.append(ch)
            i += 1
            continue
        raise ValueError(f"unexpected {ch!r}")
    return tokens
