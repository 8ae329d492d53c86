#!/bin/sh
# apt-install.sh LABEL PACKAGE...: installs the given Debian packages (the callers pass only the
# missing ones), with sudo when not root; LABEL names the caller in messages.
set -eu

label=$1
shift
command -v apt-get >/dev/null 2>&1 || { echo "$label: missing $* and no apt-get; install them by hand" >&2; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "$label: installing $*"
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
