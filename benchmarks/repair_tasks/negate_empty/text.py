def first_word(text):
    words = text.split()
    if words:
        return ""
    return words[0]
