#!/usr/bin/env bash
# Detection latency of blue/green outcomes (issue 16) on the local test bed. Prints a Markdown
# report (copied into docs/performance.md).
#   bench/strategies.sh [REPS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${WHARF_RELEASE_TARGET:-$HOME/.cache/wharf/target-release}"
scripts/testbed up >/dev/null
eval "$(scripts/testbed env)"
# WHARF_BIN=path measures a binary already built.
if [ -z "${WHARF_BIN:-}" ]; then
    cargo build --release --quiet
    export WHARF_BIN="$CARGO_TARGET_DIR/release/wharf"
fi
export AWS_BIN="$(command -v aws)"
export BENCH_IMAGE="$WHARF_TESTBED_REGISTRY/bench/busybox:1"
scripts/testbed image "bench/busybox:1" >/dev/null
vpc=$(aws ec2 create-vpc --cidr-block 10.8.0.0/16 --query Vpc.VpcId --output text)
export BENCH_SUBNET=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.8.1.0/24 --query Subnet.SubnetId --output text)
export BENCH_REPS="${1:-3}"
python3 bench/strategies.py
