#!/bin/sh
# /init of the systemd guest's initramfs (busybox sh): loads the virtio modules (the cloud
# kernel builds them as modules), mounts the root image (/dev/vda; qemu's snapshot=on keeps
# every write out of the cached image), copies the payload in (/vm: driver, lib.sh, bundles,
# busybox rootfs; berth to /usr/local/bin) and switch_roots to systemd as PID 1.
export PATH=/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "BERTH-VM-INIT uptime=$(cut -d ' ' -f 1 /proc/uptime) kernel=$(uname -r)"

fail() {
    echo "RESULT sdvm_initramfs fail $*"
    echo "RESULTS-END uptime=$(cut -d ' ' -f 1 /proc/uptime)"
    poweroff -f
}

while read -r m; do
    insmod "$m" || fail "insmod $m"
done < /vm/modules
i=0
until [ -b /dev/vda ]; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && fail "no /dev/vda after the virtio modules"
    sleep 0.05
done
mount -t ext4 -o rw,noatime /dev/vda /newroot || fail "mount /dev/vda"
cp -a /vm/. /newroot/vm/ || fail "copying /vm"
cp -a /usr/local/bin/berth /newroot/usr/local/bin/berth || fail "copying berth"
umount /proc /sys /dev
exec switch_root /newroot /lib/systemd/systemd
