#!/usr/bin/env bash
# Deploy benchmarks: wharf vs fabfuel/ecs-deploy vs the seed's aws-CLI script on the local test
# bed. Prints a Markdown report (copied into docs/performance.md).
#   bench/deploy.sh [REPS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Release builds get a target folder of their own, so they never hold the lock of the debug one.
export CARGO_TARGET_DIR="${WHARF_RELEASE_TARGET:-$HOME/.cache/wharf/target-release}"
scripts/testbed up >/dev/null
eval "$(scripts/testbed env)"
# WHARF_BIN=path measures a binary already built.
if [ -z "${WHARF_BIN:-}" ]; then
    cargo build --release --quiet
    export WHARF_BIN="$CARGO_TARGET_DIR/release/wharf"
fi
# fabfuel/ecs-deploy in a venv of its own (it pins its own boto3).
BENCH_VENV="${WHARF_BENCH_VENV:-$HOME/.cache/wharf-bench-venv}"
[ -x "$BENCH_VENV/bin/ecs" ] || { python3 -m venv "$BENCH_VENV" && "$BENCH_VENV/bin/pip" install -q ecs-deploy; }
export ECS_DEPLOY_BIN="$BENCH_VENV/bin/ecs"
export AWS_BIN="$(command -v aws)"
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
# One busybox image in the registry, one subnet in moto.
export BENCH_IMAGE="$WHARF_TESTBED_REGISTRY/bench/busybox:1"
scripts/testbed image "bench/busybox:1" >/dev/null
vpc=$(aws ec2 create-vpc --cidr-block 10.8.0.0/16 --query Vpc.VpcId --output text)
export BENCH_SUBNET=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.8.1.0/24 --query Subnet.SubnetId --output text)
export BENCH_REPS="${1:-5}"
python3 bench/deploy.py
