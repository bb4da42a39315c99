"""optimize's machinery: semantics-preserving rewrites and the statistics that decide whether one is faster."""
