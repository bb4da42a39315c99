def camel_to_snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
