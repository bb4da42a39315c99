def word_counts(text):
    return {w: 1 for w in text.split()}
