def topological_order(nodes, edges):
    indegree = {n: 0 for n in nodes}
    children = {n: [] for n in nodes}
    for a, b in edges:
        children[a].append(b)
        indegree[b] += 1
    ready = sorted(n for n in nodes if indegree[n] == 0)
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 1:
                ready.append(c)
                ready.sort()
    if len(order) != len(nodes):
        raise ValueError("cycle")
    return order
