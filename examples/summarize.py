"""Print one line per chain result (for `make demo`); every other line is ignored. Reads NDJSON on stdin."""

import json
import sys

for line in sys.stdin:
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("type") == "result" and "chain" in event:
        stages = " -> ".join(f"{h['stage']}:{h['status']}" for h in event["task"]["history"])
        print(f"{event['task_id']:<12} {event['status']:<8} score={event['score']:.2f}  {stages}")
        print(f"{'':<12} {event['result']}")
    elif event.get("type") == "error":
        print(f"error: {event.get('message')}")
