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

command -v apt-get >/dev/null 2>&1 || { echo "bench-deps: missing$missing and no apt-get; install them by hand" >&2; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "bench-deps: installing$missing"
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
