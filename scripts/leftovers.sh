#!/bin/sh
# Run after `make test`: removes the empty berth-test cgroup parents the tests create, then
# fails, naming each, if a berth-test cgroup (in any hierarchy, the systemd driver's
# berth-test.slice included) or a mount inside a test's temp dir (berth-it-*) is still
# there: a test or berth left it behind. Tests running at the same time (another `make
# test` on the host) would show up here too.

for parent in /sys/fs/cgroup/berth-test /sys/fs/cgroup/*/berth-test; do
	rmdir "$parent" 2>/dev/null
done
cgroups=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -path '*/berth-test*' 2>/dev/null)
# Field 5 of mountinfo is the mount point.
mounts=$(awk '$5 ~ /berth-it-/ { print $5 }' /proc/self/mountinfo)
[ -z "$cgroups$mounts" ] && exit 0

echo "make test: LEFT BEHIND by the tests (remove them by hand after a look):" >&2
for cgroup in $cgroups; do echo "  cgroup $cgroup" >&2; done
for mount in $mounts; do echo "  mount  $mount" >&2; done
exit 1
