#!/usr/bin/env bash
# Re-push of an unchanged two-image app: `wharf push` vs the engine's own `push` of the same
# images. Needs the test bed (scripts/testbed up; eval "$(scripts/testbed env)") and a release
# build (cargo build --release). Usage: bench/images_repush.sh [runs]
set -euo pipefail
RUNS=${1:-5}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WHARF=${WHARF:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wharf}
ENGINE=${WHARF_TESTBED_ENGINE:-docker}
REG=${WHARF_TESTBED_REGISTRY:?run eval "\$(scripts/testbed env)"}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
repo=bench-$$
for img in app web; do
    mkdir -p "$dir/$img"; cp /bin/busybox "$dir/$img/busybox"
    printf 'FROM scratch\nCOPY busybox /bin/busybox\nLABEL n=%s\n' "$img" >"$dir/$img/Dockerfile"
done
cat >"$dir/wharf.toml" <<TOML
app = "bench"
[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "$AWS_ENDPOINT_URL"
registry = "$REG"
[images.app]
context = "app"
repository = "$repo/app"
[images.web]
context = "web"
repository = "$repo/web"
TOML
cd "$dir"
"$WHARF" build --tag b1 >/dev/null 2>&1
"$WHARF" push --tag b1 --create-repositories >/dev/null 2>&1
echo "$WHARF_TESTBED_REGISTRY_PASSWORD" | "$ENGINE" login -u AWS --password-stdin "$REG" >/dev/null 2>&1
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
w=(); d=()
for _ in $(seq "$RUNS"); do
    w+=("$(t "$WHARF" push --tag b1)")
    d+=("$(t sh -c "$ENGINE push $REG/$repo/app:b1 && $ENGINE push $REG/$repo/web:b1")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${w[@]}"); md=$(median "${d[@]}")
printf 'wharf push (unchanged, 2 images):   median %.3fs over %d runs\n' "$mw" "$RUNS"
printf '%s push of the same 2 images:      median %.3fs\n' "$ENGINE" "$md"
printf 'speed-up: %.1fx\n' "$(echo "$md / $mw" | bc -l)"
