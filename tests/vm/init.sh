#!/bin/sh
# /init of the test VM (busybox sh as pid 1). Stage 1 runs on the initramfs; pivot_root cannot
# move away from that root (rootfs), so it copies the world into a tmpfs and switch_roots there.
# Stage 2 mounts the host filesystems with cgroup2 alone at /sys/fs/cgroup (the kernel boots
# with cgroup_no_v1=all), enables every controller for child cgroups as systemd does, loads
# /vm/modules, runs /vm/driver.sh with /vm/lib.sh, closes with RESULTS-END and powers off.
export PATH=/bin:/usr/local/bin

if [ "${1:-}" != stage2 ]; then
    mount -t tmpfs -o mode=0755 tmpfs /newroot
    for e in /*; do
        case "$e" in
        /newroot | /proc | /sys | /dev) ;;
        *) cp -a "$e" /newroot/ ;;
        esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev
    mknod -m 600 /newroot/dev/console c 5 1
    exec switch_root /newroot /init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
hostname berth-vm
ip link set lo up
echo "BERTH-VM-INIT uptime=$(cut -d ' ' -f 1 /proc/uptime) kernel=$(uname -r)"

if [ -f /vm/modules ]; then
    while read -r m; do
        insmod "$m" || echo "RESULT insmod_$(basename "$m" .ko) fail insmod $m"
    done < /vm/modules
fi
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control ||
        echo "RESULT enable_$c fail cannot enable $c in the root cgroup"
done

# The driver runs in its own shell: an `exit` or an error in it still reaches RESULTS-END.
sh -c '. /vm/lib.sh; host_checks; cd /vm; . /vm/driver.sh' < /dev/null 2>&1
echo "RESULTS-END uptime=$(cut -d ' ' -f 1 /proc/uptime)"
sync
poweroff -f
