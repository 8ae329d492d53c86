#!/bin/sh
# Installs what `make bench` compares berth against, and only when missing: crun and runc,
# podman's default seccomp profile (golang-github-containers-common), and for the cri rows
# containerd (the daemon, its runc v2 shim and ctr) and umoci (builds their OCI image), all
# Debian packages. The cri rows' CRI client is k8s-cri/tonic, dev-dependencies cargo builds.
# The build dependencies come from scripts/deps.sh.
set -eu

missing=""
for pkg in crun runc containerd umoci; do
    command -v "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -f /usr/share/containers/seccomp.json ] || missing="$missing golang-github-containers-common"
[ -z "$missing" ] && exit 0

exec "$(dirname "$0")/apt-install.sh" bench-deps $missing
