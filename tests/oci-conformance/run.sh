#!/bin/sh
# Runs the conformance suite: `run.sh --runtime /usr/sbin/runc [--runtime …] [--todo FILE]`.
# Builds the probe and the runner first (build.sh). Needs root.
set -eu
bin=$("$(dirname "$0")/build.sh")
exec "$bin/oci-conformance" --probe "$bin/oci-probe" "$@"
