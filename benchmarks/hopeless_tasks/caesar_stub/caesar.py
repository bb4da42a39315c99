def shift(text, k):
    return text[k:] + text[:k]
