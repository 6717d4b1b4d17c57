#!/usr/bin/env bash
# Fault soak: N deploys of a 3-service project under random faults (30 % throttled, 10 % 5xx,
# 5 % answers dropped after AWS acted), then M deploys killed with kill -9 at a random moment,
# each followed by the deploy that must converge. Prints the tallies (docs/performance.md);
# exits 1 when a check failed.
#   bench/soak.sh [N] [M]        # default 100 20; the short form `bench/soak.sh 5 3` runs in scripts/test
# WHARF_BIN=path soaks a binary already built; otherwise the debug build of this checkout.
# SOAK_SEED=n repeats a run's random choices (kill moments; the faults are drawn by the test bed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/testbed up >/dev/null
eval "$(scripts/testbed env)"
if [ -z "${WHARF_BIN:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wharf/target}"
    cargo build --quiet
    export WHARF_BIN="$CARGO_TARGET_DIR/debug/wharf"
fi
export BENCH_IMAGE="$WHARF_TESTBED_REGISTRY/bench/busybox:1"
scripts/testbed image "bench/busybox:1" >/dev/null
vpc=$(aws ec2 create-vpc --cidr-block 10.10.0.0/16 --query Vpc.VpcId --output text)
export BENCH_SUBNET=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.10.1.0/24 --query Subnet.SubnetId --output text)
export SOAK_RUNS="${1:-100}" SOAK_KILLS="${2:-20}"
# The test bed's venv has boto3.
"$WHARF_TESTBED_DIR/venv/bin/python" bench/soak.py
