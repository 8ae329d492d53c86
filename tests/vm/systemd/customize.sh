#!/bin/sh
# customize.sh ROOT: mmdebstrap's --customize-hook for the systemd guest's root (tests/vm/build.sh
# sdroot). Boots straight to multi-user.target, where berth-vm.service runs the payload's
# /vm/systemd-run.sh once dbus is up; nothing waits for a device (the guest has no udev) or
# for a console login.
set -eu
root=$1
here=$(cd "$(dirname "$0")" && pwd)

# A fixed machine id: no first-boot setup (systemd-firstboot would prompt on the console).
echo 62657274687364766d00000000000001 > "$root/etc/machine-id"
echo berth-sdvm > "$root/etc/hostname"
# The root is mounted by the initramfs; nothing else is.
: > "$root/etc/fstab"

cp "$here/berth-vm.service" "$root/etc/systemd/system/berth-vm.service"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../berth-vm.service "$root/etc/systemd/system/multi-user.target.wants/berth-vm.service"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"

# Gettys, timers and first-boot services only slow the boot down or wait for devices.
rm -rf "$root/etc/systemd/system/getty.target.wants" "$root/etc/systemd/system/timers.target.wants" \
    "$root/etc/systemd/system/sysinit.target.wants/systemd-pstore.service"
# Nor do the tests need debugfs, tracefs, hugetlbfs, module preloads, utmp or a persistent journal.
for u in getty.target serial-getty@ttyS0.service systemd-firstboot.service \
    systemd-remount-fs.service systemd-timesyncd.service apt-daily.timer e2scrub_all.timer \
    modprobe@.service sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \
    systemd-random-seed.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
    systemd-journal-flush.service systemd-tmpfiles-clean.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
mkdir -p "$root/vm" "$root/usr/local/bin"
