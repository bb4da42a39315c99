"""Correct: count word frequencies."""

import re
from collections import Counter

WORD = re.compile(r"[a-z']+")


def words(text):
    return WORD.findall(text.lower())


def top(text, n=3):
    return Counter(words(text)).most_common(n)
