# Helpers for VM driver scripts, sourced before /vm/driver.sh. A driver reports each fact as
# `RESULT <name> ok|fail <detail>` on the console (one line; the host asserts every one).

BERTH=/usr/local/bin/berth
BERTH_ROOT=/run/berth
BUNDLES=/run/bundles

# berth ARGS...: the binary under test with the VM's state root.
berth() {
    "$BERTH" --root "$BERTH_ROOT" "$@"
}

# result NAME ok|fail DETAIL...: one result line; newlines in DETAIL become '|'.
result() {
    _name=$1 _status=$2
    shift 2
    printf 'RESULT %s %s %s\n' "$_name" "$_status" "$(printf '%s' "$*" | tr '\n' '|')"
}

# expect NAME EXPECTED ACTUAL [CONTEXT]: ok when ACTUAL equals EXPECTED; CONTEXT (e.g. the
# command's output) is added to the detail of a failure.
expect() {
    if [ "$2" = "$3" ]; then
        result "$1" ok "$3"
    else
        result "$1" fail "expected [$2], got [$3]${4:+: $4}"
    fi
}

# expect_true NAME DETAIL COMMAND...: ok when COMMAND succeeds.
expect_true() {
    _name=$1 _detail=$2
    shift 2
    if "$@"; then
        result "$_name" ok "$_detail"
    else
        result "$_name" fail "$_detail (failed: $*)"
    fi
}

# bundle NAME: makes $BUNDLES/NAME from /vm/bundles/NAME/config.json (written on the host
# with the integration harness's Config) and a fresh copy of the busybox rootfs; prints its path.
bundle() {
    _b=$BUNDLES/$1
    mkdir -p "$_b"
    chmod 755 "$BUNDLES" "$_b"
    [ -f "/vm/bundles/$1/config.json" ] && cp "/vm/bundles/$1/config.json" "$_b/config.json"
    cp -a /vm/rootfs "$_b/rootfs"
    echo "$_b"
}

# json_field KEY: the value of the first "KEY" in the JSON on stdin (strings unquoted).
json_field() {
    tr -d '\n' | sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# status ID: the status `berth state ID` reports (empty when state fails).
status() {
    berth state "$1" 2>/dev/null | json_field status
}

# wait_status ID STATUS: waits up to 10 s for ID to reach STATUS; fails otherwise.
wait_status() {
    _i=0
    while [ "$(status "$1")" != "$2" ]; do
        _i=$((_i + 1))
        [ "$_i" -gt 100 ] && return 1
        sleep 0.1
    done
}

# fs_magic PATH: the filesystem's magic number in hex (busybox stat names no cgroup2fs);
# cgroup2 is 63677270, cgroup v1 27e0eb, tmpfs 1021994.
fs_magic() {
    stat -fc %t "$1"
}

# host_checks: the VM is a pure cgroup v2 host with the usual controllers available.
host_checks() {
    _ctrl=$(cat /sys/fs/cgroup/cgroup.controllers)
    _missing=""
    for _c in cpu io memory pids; do
        case " $_ctrl " in
        *" $_c "*) ;;
        *) _missing="$_missing $_c" ;;
        esac
    done
    if [ "$(fs_magic /sys/fs/cgroup)" != 63677270 ]; then
        result host_cgroup2 fail "/sys/fs/cgroup has filesystem magic $(fs_magic /sys/fs/cgroup)"
    elif [ -n "$_missing" ]; then
        result host_cgroup2 fail "missing controllers:$_missing (have: $_ctrl)"
    else
        result host_cgroup2 ok "controllers: $_ctrl; subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    fi
    mkdir -p /tmp/v1
    if mount -t cgroup -o memory cgroup /tmp/v1 2>/dev/null; then
        umount /tmp/v1
        result host_no_v1 fail "a cgroup v1 memory hierarchy mounts"
    else
        result host_no_v1 ok "cgroup v1 memory hierarchy refused"
    fi
}

# expect_ok NAME COMMAND...: ok when COMMAND exits 0; else its output is the detail. Output goes
# to a file, never a pipe: a created container keeps create's stdio open.
expect_ok() {
    _name=$1
    shift
    if "$@" > /tmp/expect_ok.out 2>&1; then
        result "$_name" ok "$*"
    else
        result "$_name" fail "exit $?: $*: $(cat /tmp/expect_ok.out)"
    fi
}

# systemd_host_checks: in the systemd guest (tests/vm/systemd), systemd is PID 1, answers on
# the system bus, and mounted the cgroup layout the kernel command line asks for: unified (v2)
# by default, hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified) with
# systemd.unified_cgroup_hierarchy=0.
systemd_host_checks() {
    expect sd_pid1 systemd "$(cat /proc/1/comm)"
    _v=$(busctl --system get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager Version 2>&1)
    case "$_v" in
    's "'*) result sd_bus ok "systemd $_v over the system bus" ;;
    *) result sd_bus fail "busctl: $_v" ;;
    esac
    _top=$(fs_magic /sys/fs/cgroup)
    if grep -q 'systemd.unified_cgroup_hierarchy=0' /proc/cmdline; then
        _got="$_top unified=$(fs_magic /sys/fs/cgroup/unified 2>&1) memory=$(fs_magic /sys/fs/cgroup/memory 2>&1)"
        expect sd_cgroup_hybrid "1021994 unified=63677270 memory=27e0eb" "$_got"
    else
        expect sd_cgroup_unified 63677270 "$_top" "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    fi
}
