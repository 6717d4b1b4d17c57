#!/usr/bin/env bash
# Deploy at scale: N services (default 100) in one wharf deploy on the local test bed, with ECS
# throttling at AWS's numbers and scripted tasks. Prints a Markdown report (docs/performance.md).
#   bench/deploy_scale.sh [N]
# WHARF_BIN=path measures a binary already built; otherwise a release build is made in
# $WHARF_RELEASE_TARGET (default ~/.cache/wharf/target-release).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/testbed up >/dev/null
eval "$(scripts/testbed env)"
if [ -z "${WHARF_BIN:-}" ]; then
    export CARGO_TARGET_DIR="${WHARF_RELEASE_TARGET:-$HOME/.cache/wharf/target-release}"
    cargo build --release --quiet
    export WHARF_BIN="$CARGO_TARGET_DIR/release/wharf"
fi
export AWS_BIN="$(command -v aws)"
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null
export BENCH_IMAGE="$WHARF_TESTBED_REGISTRY/bench/busybox:1"
scripts/testbed image "bench/busybox:1" >/dev/null
vpc=$(aws ec2 create-vpc --cidr-block 10.9.0.0/16 --query Vpc.VpcId --output text)
export BENCH_SUBNET=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.9.1.0/24 --query Subnet.SubnetId --output text)
export BENCH_SERVICES="${1:-100}"
python3 bench/deploy_scale.py
