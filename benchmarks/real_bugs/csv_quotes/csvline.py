def split_csv_line(line):
    fields, current, in_quotes = [], [], False
    for ch in line:
        if ch == '"':
            in_quotes = True
        elif ch == "," and not in_quotes:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields
