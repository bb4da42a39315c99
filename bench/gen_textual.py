"""Families of text helpers for `chain generate`: string normalisation (slow form: building a string with
`+=`), word statistics (slow form: stop words looked up in a list literal) and fizzbuzz-like labelling rules."""

from __future__ import annotations

import random

from .families import Case, SlowForm, Unit, pick, render

WORDS = (
    "apple",
    "river",
    "stone",
    "cloud",
    "maple",
    "ember",
    "delta",
    "quartz",
    "violet",
    "harbor",
    "lantern",
    "meadow",
    "copper",
    "falcon",
    "thistle",
    "summit",
    "orbit",
    "pepper",
    "willow",
    "cobalt",
)
STOP_WORDS = (
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "if",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "into",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "is",
    "was",
)


def _phrase(rng: random.Random, n: int, stop: float = 0.0) -> list[str]:
    return [
        STOP_WORDS[rng.randrange(len(STOP_WORDS))] if rng.random() < stop else WORDS[rng.randrange(len(WORDS))]
        for _ in range(n)
    ]


def _mixed_case(rng: random.Random, word: str) -> str:
    return "".join(ch.upper() if rng.random() < 0.3 else ch for ch in word)


def text(rng: random.Random) -> Unit:
    normalize, initials, slug, escape = (
        pick(rng, o)
        for o in (
            ("normalize", "tidy", "clean_spaces"),
            ("initials", "monogram", "abbreviate"),
            ("slug", "slugify", "url_slug"),
            ("escape", "html_escape", "escape_markup"),
        )
    )
    arg = pick(rng, ("text", "raw", "line"))
    table = pick(rng, ("ENTITIES", "HTML_ESCAPES", "REPLACEMENTS"))
    head = render(
        '''
        $table = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


        def $normalize($arg):
            """$arg in lower case, runs of whitespace collapsed to one space, no leading or trailing space."""
            words = $arg.split()
            return " ".join(words).lower()  #@ lower ~~ upper


        def $initials($arg):
            """Upper-case initials of the words in $arg, e.g. 'ada king' gives 'AK'."""
            return "".join(word[0] for word in $arg.split()).upper()  #@ word[0] ~~ word[1] ;; upper ~~ lower


        def $slug($arg):
            """A URL slug: the lower-case words of $arg joined by '-', keeping only letters and digits."""
            parts = []
            for word in $arg.lower().split():
                kept = "".join(ch for ch in word if ch.isalnum())
                if kept:  #@ if kept ~~ if not kept
                    parts.append(kept)
            return "-".join(parts)


        ''',
        table=table,
        normalize=normalize,
        initials=initials,
        slug=slug,
        arg=arg,
    )
    doc = f'"""{arg} with &, < and > replaced by their HTML entities."""'
    fast = render(
        """
        def $escape($arg):
            $doc
            return "".join($table.get(ch, ch) for ch in $arg)
        """,
        escape=escape,
        arg=arg,
        table=table,
        doc=doc,
    )
    slow = render(
        """
        def $escape($arg):
            $doc
            out = ""
            for ch in $arg:
                out += $table.get(ch, ch)
            return out
        """,
        escape=escape,
        arg=arg,
        table=table,
        doc=doc,
    )
    words = _phrase(rng, rng.randint(3, 5))
    spaced = "  " + "   ".join(_mixed_case(rng, w) for w in words) + " \t"
    name = " ".join(_phrase(rng, rng.randint(2, 3)))
    titled = " ".join(w.capitalize() for w in _phrase(rng, 3)) + rng.choice(("!", "?", "..."))
    punctuated = f"{_mixed_case(rng, words[0])}, {words[-1]}'s  {rng.randint(2, 99)} {rng.choice(WORDS)}!"
    markup = f'<{words[0]}> & <{words[-1]} x="{rng.randint(1, 9)}">'
    cases = [
        Case(normalize, "spaces", f"{normalize}({spaced!r})"),
        Case(normalize, "plain", f"{normalize}({name!r})"),
        Case(normalize, "empty", f"{normalize}('')"),
        Case(initials, "two_words", f"{initials}({name!r})"),
        Case(initials, "title", f"{initials}({titled!r})"),
        Case(slug, "title", f"{slug}({titled!r})"),
        Case(slug, "punctuation", f"{slug}({punctuated!r})"),
        Case(slug, "spaces", f"{slug}({spaced!r})"),
        Case(slug, "only_symbols", f"{slug}('-- !! ??')"),
        Case(escape, "markup", f"{escape}({markup!r})"),
        Case(escape, "plain", f"{escape}({name!r})"),
    ]
    bench = (
        f"page = {markup!r} * 4000",
        "for _ in range(40):",
        f"    {escape}(page)",
        f"{normalize}(page)",
        f"{slug}(page)",
        f"{initials}({name!r})",
    )
    return Unit(
        "text",
        pick(rng, ("textutil", "cleanup", "strings_util")),
        head + fast,
        (normalize, initials, slug, escape),
        tuple(cases),
        bench,
        SlowForm(escape, head + slow, "join", "constant-factor", 1.2),
    )


def words(rng: random.Random) -> Unit:
    counts, top, content = (
        pick(rng, o)
        for o in (
            ("word_counts", "count_words", "frequencies"),
            ("top_words", "most_common", "frequent_words"),
            ("content_words", "without_stop_words", "keywords"),
        )
    )
    arg, n = pick(rng, (("text", "n"), ("document", "count"), ("body", "limit")))
    stop = pick(rng, ("STOP_WORDS", "IGNORED", "COMMON_WORDS"))
    chosen = sorted(rng.sample(STOP_WORDS, 28), key=STOP_WORDS.index)
    quoted = ", ".join(f'"{w}"' for w in chosen)
    common = render(
        '''
        def $counts($arg):
            """How often each lower-cased word occurs in $arg, in order of first appearance."""
            counts = {}
            for word in $arg.lower().split():
                counts[word] = counts.get(word, 0) + 1  #@ get(word, 0) ~~ get(word, 1)
            return counts


        def $top($arg, $n):
            """The $n most frequent words of $arg, most frequent first; ties keep their first-appearance order."""
            counts = $counts($arg)
            ranked = sorted(counts, key=lambda word: -counts[word])
            return ranked[:$n]  #@ ranked[:$n] ~~ ranked[:$n - 1]


        ''',
        counts=counts,
        top=top,
        arg=arg,
        n=n,
    )
    doc = f'"""The lower-cased words of {arg} that are not stop words, in order."""'
    fast = (
        render(
            """
        $stop = {$quoted}


        """,
            stop=stop,
            quoted=quoted,
        )
        + common
        + render(
            """
        def $content($arg):
            $doc
            return [word for word in $arg.lower().split() if word not in $stop]  #@ not in ~~ in
        """,
            content=content,
            arg=arg,
            doc=doc,
            stop=stop,
        )
    )
    slow = common + render(
        """
        def $content($arg):
            $doc
            return [word for word in $arg.lower().split() if word not in [$quoted]]
        """,
        content=content,
        arg=arg,
        doc=doc,
        quoted=quoted,
    )
    first = " ".join(_mixed_case(rng, w) for w in _phrase(rng, rng.randint(10, 14), stop=0.4))
    repeated = " ".join(rng.choice(WORDS[:4]) for _ in range(rng.randint(8, 12)))
    tie = " ".join(rng.sample(WORDS, 4))
    sentence = " ".join(chosen[rng.randrange(len(chosen))] if i % 2 else rng.choice(WORDS) for i in range(9))
    cases = [
        Case(counts, "mixed", f"{counts}({first!r})"),
        Case(counts, "repeated", f"{counts}({repeated!r})"),
        Case(counts, "empty", f"{counts}('')"),
        Case(top, "repeated", f"{top}({repeated!r}, 2)"),
        Case(top, "ties", f"{top}({tie!r}, 3)"),
        Case(top, "mixed", f"{top}({first!r}, 1)"),
        Case(content, "mixed", f"{content}({first!r})"),
        Case(content, "sentence", f"{content}({sentence!r})"),
        Case(content, "no_stop_words", f"{content}({tie!r})"),
    ]
    bench = (
        f"page = {sentence + ' '!r} * 4000",
        "for _ in range(40):",
        f"    {content}(page)",
        f"{top}(page[:5000], 5)",
    )
    return Unit(
        "words",
        pick(rng, ("wordstats", "wordcount", "vocab")),
        fast,
        (counts, top, content),
        tuple(cases),
        bench,
        SlowForm(content, slow, "set membership", "linear->constant", 1.5),
    )


def rules(rng: random.Random) -> Unit:
    label, labels = (pick(rng, o) for o in (("label", "say", "name_for"), ("labels", "sequence", "count_off")))
    n, limit = pick(rng, (("n", "limit"), ("number", "upto"), ("value", "last")))
    a, b = pick(rng, ((2, 3), (2, 5), (2, 7), (3, 4), (3, 5), (3, 7), (4, 5), (4, 7), (5, 7)))
    w1, w2 = pick(rng, (("Fizz", "Buzz"), ("Ping", "Pong"), ("Foo", "Bar"), ("Tick", "Tock"), ("Zip", "Zap")))
    text = render(
        '''
        def $label($n):
            """'$w1$w2' for multiples of both $a and $b, '$w1' for multiples of $a, '$w2' for multiples of $b,
            otherwise the number itself as text."""
            if $n % $a == 0 and $n % $b == 0:  #@ and ~~ or
                return "$w1$w2"
            if $n % $a == 0:  #@ == 0 ~~ == 1
                return "$w1"
            if $n % $b == 0:  #@ % $b ~~ // $b
                return "$w2"
            return str($n)


        def $labels($limit):
            """The labels of 1 to $limit, in order."""
            return [$label(i) for i in range(1, $limit + 1)]  #@ $limit + 1 ~~ $limit ;; range(1, ~~ range(0,
        ''',
        label=label,
        labels=labels,
        n=n,
        limit=limit,
        a=a,
        b=b,
        w1=w1,
        w2=w2,
    )
    plain = next(v for v in range(rng.randint(8, 40), 200) if v % a and v % b)
    first = next(a * m for m in range(rng.randint(1, 4), 60) if (a * m) % b)
    cases = [
        Case(label, "first", f"{label}({first})"),
        Case(label, "second", f"{label}({b})"),
        Case(label, "both", f"{label}({a * b})"),
        Case(label, "both_again", f"{label}({a * b * rng.randint(2, 4)})"),
        Case(label, "one", f"{label}(1)"),
        Case(label, "plain", f"{label}({plain})"),
        Case(labels, "short", f"{labels}({b + 1})"),
        Case(labels, "full", f"{labels}({a * b + 1})"),
    ]
    bench = (f"{labels}(300000)",)
    return Unit("rules", pick(rng, ("rules", "labelling", "fizz")), text, (label, labels), tuple(cases), bench)


FAMILIES = (text, words, rules)
