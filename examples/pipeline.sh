#!/usr/bin/env bash
# The full chain over the example projects, keeping each stage's output, then a summary of failures with jq.
# Usage: examples/pipeline.sh [PROFILE]   (from the repository root, with chain installed)
set -euo pipefail
profile=${1:-balanced}
out=${OUT:-.chain/pipeline}
mkdir -p "$out"

chain task examples/projects/* \
  | chain analyze  --profile "$profile" | tee "$out/analyzed.ndjson" \
  | chain process  --profile "$profile" | tee "$out/processed.ndjson" \
  | chain optimize --profile "$profile" > "$out/optimized.ndjson"

echo "results in $out/; tasks still failing after process:" >&2
jq -r 'select(.type == "result" and .chain and .status != "passed") | "\(.task_id)\t\(.status)\t\(.result)"' \
  "$out/processed.ndjson"
chain profiles
