from collections import Counter


def top_words(text, k):
    """The k most frequent words (ties alphabetically), lower-cased."""
    counts = Counter(w.strip(".,!?").lower() for w in text.split())
    counts.pop("", None)
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return [word for word, _ in ranked[:k]]
