def get_path(obj, path, default=None):
    """get_path({"a": [{"b": 1}]}, "a.0.b") == 1"""
    current = obj
    for part in path.split("."):
        if isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                return default
            current = current[part]
        elif isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        else:
            return default
    return current
