#!/bin/sh
# Writes a busybox bundle to $1 (default target/demo-bundle): rootfs/ with a static busybox and
# config.json running a probe that prints the hostname, its own pid and id. Needs only a shell.
# The cgroup goes under /berth-test (without cgroupsPath it would be made inside the caller's
# own cgroups, as runc does).
set -eu

bundle=${1:-target/demo-bundle}
busybox=${BUSYBOX:-/bin/busybox}

[ -x "$busybox" ] || { echo "demo-bundle: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

rm -rf "$bundle"
mkdir -p "$bundle/rootfs"
cd "$bundle/rootfs"
mkdir -p bin proc sys dev tmp etc root
chmod 1777 tmp
cp "$busybox" bin/busybox
chmod 755 bin/busybox
for applet in sh echo cat id hostname ls sleep ps true; do
    ln -s busybox "bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
cd ..

cat > config.json <<'JSON'
{
  "ociVersion": "1.2.0",
  "root": { "path": "rootfs", "readonly": true },
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": ["sh", "-c", "echo \"hostname: $(hostname)\"; echo \"pid: $$\"; echo \"id: $(id)\""],
    "env": ["PATH=/bin", "HOME=/root"],
    "cwd": "/"
  },
  "hostname": "berth-demo",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"] }
  ],
  "linux": {
    "cgroupsPath": "/berth-test/demo",
    "resources": { "pids": { "limit": 64 } },
    "namespaces": [
      { "type": "pid" }, { "type": "mount" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "network" }
    ]
  }
}
JSON
echo "demo bundle written to $bundle"
