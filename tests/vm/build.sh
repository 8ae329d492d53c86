#!/bin/sh
# Builds what the VM tests boot, from Debian packages only (needs root and apt-get):
#   build.sh kernel VMDIR
#       installs qemu-system-x86 when missing, fetches the kernel the linux-image-cloud-amd64
#       metapackage depends on into VMDIR/kernel once (cached), prints the vmlinuz path.
#       Exits 77 when qemu cannot be installed (the caller skips).
#   build.sh initramfs OUT BERTH DRIVER [BUNDLES]
#       writes OUT, a gzip'd newc cpio: busybox-static, a stripped copy of BERTH with its shared
#       libraries, tests/vm/init.sh as /init, tests/vm/lib.sh, DRIVER as /vm/driver.sh, a busybox
#       rootfs at /vm/rootfs and, when given, the bundles dir (NAME/config.json) at /vm/bundles.
#       Modules named in $VM_MODULES (e.g. "overlay veth") are packed with their dependencies
#       and loaded by /init, from the kernel fetched into $VMDIR (default: OUT's dir).
#       With VM_INIT=systemd the initramfs is the systemd guest's: systemd/init.sh as /init (it
#       mounts the root image and switch_roots to systemd), systemd/run.sh as /vm/systemd-run.sh,
#       and the virtio modules that /dev/vda needs. VM_PACK="SRC:DEST …" packs more programs
#       (with their libraries) at DEST; the systemd guest keeps only what is under /vm.
#   build.sh sdroot VMDIR
#       installs mmdebstrap (and qemu) when missing, builds the systemd guest's root image
#       from Debian packages once per package list and customize script, cached as
#       VMDIR/systemd-<key>/root.img, and prints its path. Exits 77 when it cannot install them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

die() { echo "vm/build.sh: $*" >&2; exit 1; }

# apt-cache knows nothing before the first `apt-get update`; run it once if a lookup fails.
apt_updated=""
apt_update() {
    [ -n "$apt_updated" ] && return 0
    apt_updated=1
    $sudo apt-get update -qq >&2
}

ensure_qemu() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || { echo "vm/build.sh: no qemu-system-x86_64 and no apt-get" >&2; exit 77; }
    echo "vm/build.sh: installing qemu-system-x86" >&2
    if ! { apt_update && $sudo env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2; }; then
        echo "vm/build.sh: cannot install qemu-system-x86" >&2
        exit 77
    fi
    command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "vm/build.sh: qemu-system-x86 has no qemu-system-x86_64" >&2; exit 77; }
}

# The kernel package the metapackage points at, e.g. linux-image-6.1.0-56-cloud-amd64.
kernel_package() {
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
    if [ -z "$pkg" ]; then
        apt_update
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
    fi
    [ -n "$pkg" ] || die "apt-cache knows no linux-image-cloud-amd64"
    echo "$pkg"
}

# Prints VMDIR/kernel/<package>/boot/vmlinuz-*, fetching and unpacking the package only once.
ensure_kernel() {
    vmdir=$1
    mkdir -p "$vmdir/kernel"
    found=$(ls "$vmdir"/kernel/*/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
    if [ -n "$found" ]; then
        echo "$found"
        return 0
    fi
    pkg=$(kernel_package)
    tmp=$(mktemp -d "$vmdir/kernel/.fetch.XXXXXX")
    # apt's sandbox user could not write into this root-owned temp dir.
    (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) ||
        die "apt-get download $pkg failed"
    dpkg -x "$tmp"/*.deb "$tmp/x" || die "dpkg -x of $pkg failed"
    mv "$tmp/x" "$vmdir/kernel/$pkg"
    rm -rf "$tmp"
    ls "$vmdir/kernel/$pkg"/boot/vmlinuz-*
}

# Copies ELF file $1 and the shared libraries it loads into staging dir $2 at their own paths.
copy_with_libs() {
    elf=$1 stage=$2 dest=$3
    mkdir -p "$stage/$(dirname "$dest")"
    cp "$elf" "$stage/$dest"
    # A debug build is mostly symbols: strip the copy so the initramfs unpacks fast.
    strip --strip-debug "$stage/$dest" 2>/dev/null || true
    ldd "$elf" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/[^ ]+ \(/ {print $1}' | while read -r lib; do
        mkdir -p "$stage/$(dirname "$lib")"
        cp -L "$lib" "$stage/$lib"
    done
}

# A busybox rootfs like the integration harness's (tests/integration/harness.rs build_rootfs).
make_rootfs() {
    r=$1
    mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc" "$r/root" "$r/probe"
    chmod 1777 "$r/tmp"
    cp "$busybox" "$r/bin/busybox"
    chmod 755 "$r/bin/busybox"
    for a in $("$busybox" --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$r/etc/passwd"
    printf 'root:x:0:\ntester:x:1000:\nnogroup:x:65534:\n' > "$r/etc/group"
}

# The .ko of module $1 under $moddir (names use '_' and '-' alike).
find_ko() {
    _f=$(find "$moddir" -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" -o -name "$(echo "$1" | tr - _).ko" | head -n 1)
    [ -n "$_f" ] || die "module $1 is not in $moddir"
    echo "$_f"
}

# Packs module $1 into $stage after what it depends on (the .ko's modinfo `depends=`; the
# package ships no modules.dep) and lists it in /vm/modules, the load order.
add_module() {
    for _d in $(tr '\0' '\n' < "$(find_ko "$1")" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$_d"
    done
    _ko=$(find_ko "$1")
    _rel=${_ko#"$moddir"/}
    grep -qx "/lib/modules/$_rel" "$stage/vm/modules" && return 0
    mkdir -p "$stage/lib/modules/$(dirname "$_rel")"
    cp "$_ko" "$stage/lib/modules/$_rel"
    echo "/lib/modules/$_rel" >> "$stage/vm/modules"
}

# Packs the modules named in $VM_MODULES, from the kernel fetched into $1.
pack_modules() {
    moddir=$(ls -d "$1"/kernel/*/lib/modules/* 2>/dev/null | head -n 1 || true)
    [ -n "$moddir" ] || die "no kernel modules under $1/kernel (run: build.sh kernel $1)"
    : > "$stage/vm/modules"
    for m in $VM_MODULES; do
        add_module "$m"
    done
}

build_initramfs() {
    out=$1 berth=$2 driver=$3 bundles=${4:-}
    [ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
    [ -x "$berth" ] || die "berth binary $berth not found"
    [ -f "$driver" ] || die "driver script $driver not found"
    out_dir=$(cd "$(dirname "$out")" && pwd)
    stage=$(mktemp -d "$out_dir/.initramfs.XXXXXX")
    trap 'rm -rf "$stage"' EXIT

    mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/run" "$stage/tmp" \
        "$stage/newroot" "$stage/vm" "$stage/usr/local/bin" "$stage/etc"
    cp "$busybox" "$stage/bin/busybox"
    for a in $("$busybox" --list); do
        [ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
    done
    # The kernel opens /dev/console for init before anything is mounted.
    mknod -m 600 "$stage/dev/console" c 5 1
    copy_with_libs "$berth" "$stage" /usr/local/bin/berth
    # VM_PACK="SRC:DEST …": more programs with their shared libraries (tests/vm/bench.sh).
    for _p in ${VM_PACK:-}; do
        copy_with_libs "${_p%%:*}" "$stage" "${_p#*:}"
    done
    if [ "${VM_INIT:-}" = systemd ]; then
        cp "$here/systemd/init.sh" "$stage/init"
        cp "$here/systemd/run.sh" "$stage/vm/systemd-run.sh"
        cp "$here/systemd/recvtty.py" "$stage/vm/recvtty.py"
        VM_MODULES="virtio_pci virtio_blk ${VM_MODULES:-}"
    else
        cp "$here/init.sh" "$stage/init"
    fi
    cp "$here/lib.sh" "$stage/vm/lib.sh"
    cp "$driver" "$stage/vm/driver.sh"
    chmod 755 "$stage/init"
    make_rootfs "$stage/vm/rootfs"
    if [ -n "$bundles" ]; then
        cp -a "$bundles" "$stage/vm/bundles"
    fi
    if [ -n "${VM_MODULES:-}" ]; then
        pack_modules "${VMDIR:-$out_dir}"
    fi

    (cd "$stage" && find . -mindepth 1 | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$out.tmp"
    mv "$out.tmp" "$out"
}

# The systemd guest's packages (Debian bookworm, the essential set plus these). criu (3.17,
# with python3 for its tools, and iproute2 and iptables, with which it dumps network namespaces) is for
# the checkpoint/restore tests: its `criu check` passes on the guest's 6.1 kernel.
SD_SUITE=bookworm
SD_PACKAGES="systemd,systemd-sysv,dbus,runc,dbus-user-session,criu,iproute2,iptables"

# crun, the third runtime of `make vm-bench` (tests/vm/bench.sh) in this guest.
SD_PACKAGES="$SD_PACKAGES,crun"

ensure_mmdebstrap() {
    command -v mmdebstrap >/dev/null 2>&1 && command -v mke2fs >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || { echo "vm/build.sh: no mmdebstrap and no apt-get" >&2; exit 77; }
    echo "vm/build.sh: installing mmdebstrap" >&2
    if ! { apt_update && $sudo env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends mmdebstrap e2fsprogs >&2; }; then
        echo "vm/build.sh: cannot install mmdebstrap" >&2
        exit 77
    fi
}

# Prints the systemd guest's root image, VMDIR/systemd-<key>/root.img, building it when no image
# has this key (a hash of the suite, package list and the files copied into the image).
ensure_sdroot() {
    vmdir=$1
    key=$( { echo "$SD_SUITE $SD_PACKAGES"; cat "$here/systemd/customize.sh" "$here/systemd/berth-vm.service"; } |
        sha256sum | cut -c1-16)
    dir=$vmdir/systemd-$key
    if [ -f "$dir/root.img" ]; then
        echo "$dir/root.img"
        return 0
    fi
    ensure_mmdebstrap
    tmp=$(mktemp -d "$vmdir/.sdroot.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    start=$(date +%s)
    # essential + the packages (no apt, no Priority: required extras); merged /usr without the
    # usrmerge package (which pulls in perl); no docs, man pages or translations.
    mmdebstrap --quiet --variant=essential --include="$SD_PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --customize-hook="$here/systemd/customize.sh \"\$1\"" \
        "$SD_SUITE" "$tmp/root" >&2 || die "mmdebstrap failed"
    size=$(du -sm "$tmp/root" | cut -f1)
    # Room for the payload (berth, bundles) and what the tests write; qemu's snapshot=on keeps
    # the image itself unchanged.
    truncate -s $((size + 512))M "$tmp/root.img"
    mke2fs -q -t ext4 -L berth-sdvm -d "$tmp/root" "$tmp/root.img" >&2 || die "mke2fs failed"
    rm -rf "$tmp/root" "$vmdir"/systemd-*
    mkdir -p "$dir"
    mv "$tmp/root.img" "$dir/root.img"
    rm -rf "$tmp"
    trap - EXIT
    echo "vm/build.sh: built $dir/root.img ($size MiB of files) in $(($(date +%s) - start)) s" >&2
    echo "$dir/root.img"
}

cmd=${1:-}
case "$cmd" in
kernel)
    [ $# -eq 2 ] || die "usage: build.sh kernel VMDIR"
    ensure_qemu
    mkdir -p "$2"
    # Tests boot VMs in parallel: one fetch at a time, the others then find it cached.
    exec 9>"$2/.kernel.lock"
    flock 9
    ensure_kernel "$2"
    ;;
sdroot)
    [ $# -eq 2 ] || die "usage: build.sh sdroot VMDIR"
    ensure_qemu
    mkdir -p "$2"
    exec 9>"$2/.sdroot.lock"
    flock 9
    ensure_sdroot "$(cd "$2" && pwd)"
    ;;
initramfs)
    [ $# -ge 4 ] && [ $# -le 5 ] || die "usage: build.sh initramfs OUT BERTH DRIVER [BUNDLES]"
    shift
    build_initramfs "$@"
    ;;
*)
    die "usage: build.sh kernel VMDIR | sdroot VMDIR | initramfs OUT BERTH DRIVER [BUNDLES]"
    ;;
esac
