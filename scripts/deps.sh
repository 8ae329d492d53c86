#!/bin/sh
# Installs the Debian packages berth needs to build and to run its demo and tests, and only
# when one is missing (nothing else is installed): pkg-config, libseccomp-dev, busybox-static, gcc.
set -eu

missing=""
for pkg in pkg-config libseccomp-dev busybox-static gcc; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
command -v cargo >/dev/null 2>&1 || { echo "deps: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
[ -z "$missing" ] && exit 0

exec "$(dirname "$0")/apt-install.sh" deps $missing
