#!/bin/sh
# Builds the probe and the runner as static binaries into target/oci-conformance and prints the
# directory holding them. Static, so the probe runs in a busybox rootfs without a libc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
triple="$(uname -m)-unknown-linux-gnu"
target_dir="${OCI_CONFORMANCE_TARGET_DIR:-$repo/target/oci-conformance}"
RUSTFLAGS="-C target-feature=+crt-static" "${CARGO:-cargo}" build --quiet --release \
    --manifest-path "$here/Cargo.toml" --target "$triple" --target-dir "$target_dir" >&2
echo "$target_dir/$triple/release"
