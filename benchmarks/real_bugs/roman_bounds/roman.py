VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman_to_int(text):
    total = 0
    for i, ch in enumerate(text):
        value = VALUES[ch]
        if value < VALUES[text[i + 1]]:
            total -= value
        else:
            total += value
    return total
