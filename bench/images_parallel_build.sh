#!/usr/bin/env bash
# Three independent images: `wharf build` (parallel) vs the compose tool building them one after
# another (docker-compose build). Each run changes a build arg so nothing comes from the cache.
# Needs docker and a release build. Usage: bench/images_parallel_build.sh [runs]
set -euo pipefail
RUNS=${1:-3}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WHARF=${WHARF:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wharf}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
printf 'app = "bench"\n[environments.local]\nregion = "us-east-1"\naccount = "123456789012"\nregistry = "127.0.0.1:1"\n' >"$dir/wharf.toml"
printf 'version: "3"\nservices:\n' >"$dir/compose.yml"
for i in 1 2 3; do
    mkdir -p "$dir/i$i"; cp /bin/busybox "$dir/i$i/busybox"
    # A step that takes a while (work in a RUN), like a real compile. The step differs per image
    # (it names the image), as in a real app: identical steps would let the one-after-another
    # builder reuse the first image's layer for the others, which parallel builds cannot.
    printf 'FROM scratch\nCOPY busybox /bin/busybox\nARG NONCE\nRUN ["/bin/busybox", "sh", "-c", "echo $NONCE i%s; /bin/busybox sleep 2; /bin/busybox dd if=/dev/urandom of=/blob bs=1M count=20"]\n' "$i" >"$dir/i$i/Dockerfile"
    printf '[images.i%s]\ncontext = "i%s"\nrepository = "bench/i%s"\nargs = { NONCE = "{{ env_var(\\"NONCE\\") }}" }\n' "$i" "$i" "$i" >>"$dir/wharf.toml"
    printf '  i%s:\n    image: bench-compose/i%s:x\n    build:\n      context: i%s\n      args: [NONCE]\n' "$i" "$i" "$i" >>"$dir/compose.yml"
done
cd "$dir"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
w=(); c=()
for r in $(seq "$RUNS"); do
    w+=("$(NONCE=w$r-$$ t "$WHARF" build --tag b1)")
    c+=("$(NONCE=c$r-$$ t docker-compose -f compose.yml build)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${w[@]}"); mc=$(median "${c[@]}")
printf 'wharf build (3 images, parallel):        median %.2fs over %d runs\n' "$mw" "$RUNS"
printf 'docker-compose build (one after another): median %.2fs\n' "$mc"
printf 'speed-up: %.2fx\n' "$(echo "$mc / $mw" | bc -l)"
