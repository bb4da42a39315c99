import heapq


def shortest_paths(graph, source):
    """Distances from source; graph maps node -> [[neighbour, weight], ...]."""
    dist = {source: 0}
    heap = [(0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, float("inf")):
            continue
        for v, w in graph.get(u, []):
            nd = d + 1
            if nd < dist.get(v, float("inf")):
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return dict(sorted(dist.items()))
