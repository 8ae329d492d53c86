#!/bin/sh
# Installs what `make bench` compares berth against, and only when missing: crun and runc, and
# podman's default seccomp profile (golang-github-containers-common), all Debian packages. The
# build dependencies come from scripts/deps.sh.
set -eu

missing=""
for pkg in crun runc; do
    command -v "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -f /usr/share/containers/seccomp.json ] || missing="$missing golang-github-containers-common"
[ -z "$missing" ] && exit 0

exec "$(dirname "$0")/apt-install.sh" bench-deps $missing
