#!/bin/sh
# Copies a static busybox into this folder so `docker build` (FROM scratch) can use it.
# Debian: apt-get install busybox-static (installs /bin/busybox, statically linked).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${BUSYBOX:-/bin/busybox}
if ! file -L "$src" 2>/dev/null | grep -q "statically linked"; then
    echo "error: $src is not a static busybox; install Debian's busybox-static or set BUSYBOX=path" >&2
    exit 1
fi
cp "$src" "$here/busybox"
chmod 755 "$here/busybox"
echo "copied $src to $here/busybox"
