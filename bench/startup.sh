#!/usr/bin/env bash
# Start-up time of `wharf --help` and `wharf validate` on the example project (target: < 10 ms),
# measured with hyperfine on the release build.
#   bench/startup.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Release builds get a target folder of their own, so they never hold the lock of the debug one.
export CARGO_TARGET_DIR="${WHARF_RELEASE_TARGET:-$HOME/.cache/wharf/target-release}"
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
cargo build --release --quiet
wharf="$CARGO_TARGET_DIR/release/wharf"
cd examples/hello
hyperfine --warmup 20 --runs 200 -N --export-markdown /dev/stdout \
    "$wharf --help" \
    "$wharf validate" \
    "$wharf validate --env local" 2>/dev/null | grep '^|'
