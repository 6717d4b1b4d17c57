#!/usr/bin/env bash
# The test suite's build cost at two commits, in the same run on the same machine: each commit is
# checked out in a temporary worktree with a build folder of its own (seeded from
# $CARGO_TARGET_DIR so the dependencies are already built), then
#   1. `cargo test --no-run` builds wharf and every test target of that commit;
#   2. after touching src/lib.rs, the same again (what an edit of the library costs).
# and prints the seconds and the number of test binaries linked.
#   bench/suite_build.sh OLD_COMMIT NEW_COMMIT
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old="${1:?old commit}"
new="${2:?new commit}"
seed="${CARGO_TARGET_DIR:-$HOME/.cache/wharf/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/wharf-suite-build.XXXXXX")"
trap 'git -C "$ROOT" worktree remove --force "$work/old" 2>/dev/null || true; git -C "$ROOT" worktree remove --force "$work/new" 2>/dev/null || true; rm -rf "$work"' EXIT

measure() {
    local name="$1" commit="$2"
    git -C "$ROOT" worktree add -q --detach "$work/$name" "$commit"
    cp -a "$seed" "$work/target-$name"
    export CARGO_TARGET_DIR="$work/target-$name"
    cd "$work/$name"
    local t0 t1 t2 bins
    t0=$(date +%s.%N)
    cargo test --quiet --no-run --all-targets 2>/dev/null
    t1=$(date +%s.%N)
    touch src/lib.rs
    cargo test --quiet --no-run --all-targets 2>/dev/null
    t2=$(date +%s.%N)
    bins=$(cargo test --no-run --all-targets --message-format=json 2>/dev/null |
        grep -c '"kind":\["test"\]' || true)
    printf '| %s (%s) | %s | %.0f s | %.0f s |\n' "$name" "$(git rev-parse --short HEAD)" "$bins" \
        "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
    cd "$ROOT"
}

command -v bc >/dev/null || apt-get install -y -q bc >/dev/null
echo "| tree | integration test binaries | build of the tests | rebuild after touching src/lib.rs |"
echo "|---|---|---|---|"
measure old "$old"
measure new "$new"
