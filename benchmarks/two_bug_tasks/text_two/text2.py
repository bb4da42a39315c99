def shout(s):
    return s.lower() + "!"


def initials(name):
    return "".join(part[1] for part in name.split())
