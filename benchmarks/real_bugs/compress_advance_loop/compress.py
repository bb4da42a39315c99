def compress(text):
    """'aabccc' -> 'a2bc3'"""
    out = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        run = j - i
        out.append(text[i] + (str(run) if run > 1 else ""))
    return "".join(out)
