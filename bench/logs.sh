#!/usr/bin/env bash
# Benchmark: read 100,000 log lines from the local test bed with `wharf logs`, with `aws logs tail`
# (AWS CLI v2, the peer the operate issue names) and with `aws logs filter-log-events` (AWS CLI v1,
# the test bed's), all over the same group and stream prefix, in the same run.
#
# AWS CLI v2 is not on PyPI; Debian packages it (`apt-get install awscli`, 2.9.19 on bookworm,
# installed as /usr/bin/aws). AWS2=path overrides; without a v2 CLI only the v1 figure is given.
#
# Usage: bench/logs.sh [LINES] [RUNS]   (test bed up; WHARF=path/to/wharf, default target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-100000}
RUNS=${2:-3}
eval "$(scripts/testbed env)"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
TARGET=${CARGO_TARGET_DIR:-target}
WHARF=$(realpath "${WHARF:-$TARGET/release/wharf}")
AWS=${WHARF_TESTBED_DIR:-$HOME/.cache/wharf-testbed}/venv/bin/aws
AWS2=${AWS2:-/usr/bin/aws}
if ! "$AWS2" --version 2>/dev/null | grep -q '^aws-cli/2'; then
  echo "no AWS CLI v2 at $AWS2 (apt-get install awscli); comparing with v1 only" >&2
  AWS2=
fi
PY=${WHARF_TESTBED_DIR:-$HOME/.cache/wharf-testbed}/venv/bin/python
GROUP="/bench/logs-$$"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "filling $GROUP with $LINES lines in 10 streams..." >&2
"$PY" - "$GROUP" "$LINES" <<'PY'
import sys, time, boto3
group, lines = sys.argv[1], int(sys.argv[2])
logs = boto3.client("logs")
logs.create_log_group(logGroupName=group)
streams = [f"bench/main/{i:032x}" for i in range(10)]
for s in streams:
    logs.create_log_stream(logGroupName=group, logStreamName=s)
start = int(time.time() * 1000) - lines
per = lines // len(streams)
for n, s in enumerate(streams):
    for off in range(0, per, 10000):
        batch = [{"timestamp": start + (off + i) * len(streams) + n,
                  "message": f"line {off + i} of stream {n}: the quick brown fox jumps over the lazy dog"}
                 for i in range(min(10000, per - off))]
        logs.put_log_events(logGroupName=group, logStreamName=s, logEvents=batch)
PY

cat > "$WORK/wharf.toml" <<TOML
app = "bench"
[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "$AWS_ENDPOINT_URL"
[jobs.bench]
task_definition = "td.json"
TOML
cat > "$WORK/td.json" <<JSON
{"family": "bench-logs-$$", "containerDefinitions": [{"name": "main", "image": "busybox", "essential": true,
 "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "$GROUP", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "bench"}}}]}
JSON

time_cmd() { # prints seconds
  local s e
  s=$(date +%s.%N); "$@" > "$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }; e=$(date +%s.%N)
  echo "$e - $s" | bc
}
best() { sort -n | head -1; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

W=(); A=(); T=()
for _ in $(seq "$RUNS"); do
  W+=("$(cd "$WORK" && time_cmd "$WHARF" logs bench --env local --since 1d)")
  WL=$(wc -l < "$WORK/out")
  A+=("$(time_cmd "$AWS" logs filter-log-events --log-group-name "$GROUP" --log-stream-name-prefix bench/main/ --start-time 0 --output text)")
  AL=$(grep -c '^EVENTS' "$WORK/out" || true)
  if [ -n "$AWS2" ]; then
    # v2.9 does not read AWS_ENDPOINT_URL, so the endpoint is passed as a flag.
    T+=("$(time_cmd "$AWS2" --endpoint-url "$AWS_ENDPOINT_URL" logs tail "$GROUP" --log-stream-name-prefix bench/main/ --since 1d)")
    TL=$(wc -l < "$WORK/out")
  fi
done
WB=$(printf '%s\n' "${W[@]}" | best); AB=$(printf '%s\n' "${A[@]}" | best)
WM=$(printf '%s\n' "${W[@]}" | median); AM=$(printf '%s\n' "${A[@]}" | median)
echo "lines: wharf $WL, aws v1 $AL${AWS2:+, aws v2 $TL}"
echo "wharf logs:                    best ${WB}s  median ${WM}s  (runs: ${W[*]})"
if [ -n "$AWS2" ]; then
  TB=$(printf '%s\n' "${T[@]}" | best); TM=$(printf '%s\n' "${T[@]}" | median)
  echo "aws logs tail (v2):            best ${TB}s  median ${TM}s  (runs: ${T[*]})"
fi
echo "aws logs filter-log-events v1: best ${AB}s  median ${AM}s  (runs: ${A[*]})"
if [ -n "$AWS2" ]; then
  echo "speed-up vs aws logs tail:     best $(echo "scale=1; $TB / $WB" | bc)x  median $(echo "scale=1; $TM / $WM" | bc)x"
fi
echo "speed-up vs filter-log-events: best $(echo "scale=1; $AB / $WB" | bc)x  median $(echo "scale=1; $AM / $WM" | bc)x"
[ -n "${KEEP_GROUP:-}" ] && echo "kept $GROUP" >&2 || "$AWS" logs delete-log-group --log-group-name "$GROUP"
