#!/bin/bash
# Tests the exec shim (src/process/shim/exec-shim.c) as a program, against its contract (the
# comment at the top of the C file), the same way for each architecture it supports:
#   x86_64   built with the host's cc, run directly;
#   aarch64  cross-built with aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu), run
#            under qemu-aarch64-static (qemu-user-static).
# Under qemu the shim's execve is the host's: the programs it executes are the host's own
# (/bin/sh), which is what the shim hands on either way. An architecture whose compiler or
# emulator is missing is reported as skipped, and fails the run under SHIM_TEST_STRICT=1 (CI).
# Part of `make test` (`make shim-test`). Needs bash and python3 (the socket case).
set -uo pipefail

cd "$(dirname "$0")/.."
source=src/process/shim/exec-shim.c
work=$(mktemp -d /tmp/berth-shim-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# build.rs's flags for the shim (keep in step): freestanding, static, about 1 KiB.
flags=(-Os -static -nostdlib -ffreestanding -fno-builtin -fno-pie -no-pie -fno-stack-protector
    -fno-asynchronous-unwind-tables -fno-unwind-tables -Wl,--build-id=none -Wl,-z,noexecstack
    -Wl,-n -s -Wall -Werror)

failures=0
skipped=0
arch=""
runner=()
shim=""

fail() {
    echo "shim-test $arch: FAIL: $*" >&2
    failures=$((failures + 1))
}

# run ARGV0 ARG...: the shim with argv[0] ARGV0 (its descriptor list) and the rest as given.
run() {
    local argv0=$1
    shift
    if [ ${#runner[@]} -eq 0 ]; then
        (exec -a "$argv0" "$shim" "$@")
    else
        "${runner[@]}" -0 "$argv0" "$shim" "$@"
    fi
}

# expect NAME WANT GOT: compares one fact.
expect() {
    [ "$2" = "$3" ] || fail "$1: expected ${2@Q}, got ${3@Q}"
}

# The shim's failure report: errno (4 bytes, little-endian on both arches), call, NUL, target.
report() {
    od -An -v -tx1 "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}
hex() {
    printf '%s' "$1" | od -An -v -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

cases() {
    local out status
    # argv and envp are handed on: the program's argv[0] is the shim's argv[2].
    local script='tr "\0" " " </proc/$$/cmdline; printf "|%s" "$FOO"'
    out=$(FOO=bar run "" /bin/sh prog -c "$script" one)
    expect "argv and env" "prog -c $script one |bar" "$out"

    # Listed descriptors become close-on-exec; others stay open.
    out=$(run "7,8" /bin/sh sh -c 'for fd in 7 8 9; do [ -e /proc/self/fd/$fd ] && printf "%s " $fd; done' \
        7>"$work/a" 8>"$work/b" 9>"$work/c")
    expect "close-on-exec" "9 " "$out"

    # A failed execve is reported on the first descriptor (not a socket: one write) ...
    run "5" /nonexistent x 5>"$work/report" 2>"$work/stderr"
    expect "ENOENT status" 127 $?
    expect "ENOENT report" "02 00 00 00 $(hex execve) 00 $(hex /nonexistent)" "$(report "$work/report")"
    expect "ENOENT stderr" "" "$(cat "$work/stderr")"

    # ... and on stderr in the runtime's words when there is none.
    run "" /nonexistent x 2>"$work/stderr"
    expect "no listener status" 127 $?
    expect "no listener stderr" "berth: executing the process: exec /nonexistent: no such file or directory" \
        "$(cat "$work/stderr")"

    printf 'not a program' >"$work/data"
    chmod 0644 "$work/data"
    run "" "$work/data" x 2>"$work/stderr"
    expect "EACCES status" 126 $?
    expect "EACCES stderr" "berth: executing the process: exec $work/data: permission denied" \
        "$(cat "$work/stderr")"

    printf '\x7fELF garbage' >"$work/garbage"
    chmod 0755 "$work/garbage"
    run "" "$work/garbage" x 2>"$work/stderr"
    expect "ENOEXEC status" 126 $?
    expect "ENOEXEC stderr" "berth: executing the process: exec $work/garbage: exec format error" \
        "$(cat "$work/stderr")"

    # `start`: "+FD" writes "+" into exec.fifo once only the execve is left.
    run "+5" /bin/true x 5>"$work/fifo"
    expect "announce status" 0 $?
    expect "announce" "+" "$(cat "$work/fifo")"

    # Bad arguments: too few, a descriptor list that is not one.
    run "" /bin/true 2>"$work/stderr"
    expect "too few arguments status" 126 $?
    expect "too few arguments" "berth: executing the process: exec shim arguments: invalid argument" \
        "$(cat "$work/stderr")"
    run "5x" /bin/true x 2>"$work/stderr"
    expect "bad descriptor list status" 126 $?
    expect "bad descriptor list" \
        "berth: executing the process: exec shim descriptor list: invalid argument" "$(cat "$work/stderr")"

    # `exec`: the sync socket gets one packet on failure, and end of file on success.
    if ! command -v python3 >/dev/null; then
        fail "python3 missing: the socket case did not run"
        return
    fi
    out=$(python3 - "$shim" "${runner[@]}" <<'PY'
import socket, subprocess, sys
shim, runner = sys.argv[1], sys.argv[2:]
def run(path):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    argv0 = str(theirs.fileno())
    args = [path, "x"]
    if runner:
        cmd, exe = runner + ["-0", argv0, shim] + args, None
    else:
        cmd, exe = [argv0] + args, shim
    child = subprocess.Popen(cmd, executable=exe, pass_fds=[theirs.fileno()])
    theirs.close()
    packet = ours.recv(4096)
    return child.wait(), packet
status, packet = run("/nonexistent")
print(status, packet.hex(), end=" ")
status, packet = run("/bin/true")
print(status, packet.hex())
PY
)
    local want
    want="127 02000000$(hex execve | tr -d ' ')00$(hex /nonexistent | tr -d ' ') 0 "
    expect "socket" "$want" "$out"
}

# arch NAME COMPILER [RUNNER...]: builds the shim with COMPILER and runs the cases.
test_arch() {
    arch=$1
    local compiler=$2
    shift 2
    runner=("$@")
    if ! command -v "$compiler" >/dev/null || { [ $# -gt 0 ] && ! command -v "$1" >/dev/null; }; then
        echo "shim-test $arch: SKIPPED ($compiler${1:+ or $1} not installed)"
        skipped=$((skipped + 1))
        return
    fi
    shim=$work/exec-shim-$arch
    "$compiler" "${flags[@]}" -o "$shim" "$source" || { fail "$compiler failed"; return; }
    local before=$failures
    cases
    local kind
    kind=$(od -An -j18 -N2 -tu2 "$shim" | tr -d ' ')
    [ "$arch" = aarch64 ] && expect "ELF machine" 183 "$kind"
    [ "$arch" = x86_64 ] && expect "ELF machine" 62 "$kind"
    [ $failures -eq "$before" ] &&
        echo "shim-test $arch: ok ($(stat -c %s "$shim") bytes${runner[0]:+, under ${runner[0]}})"
}

host=$(uname -m)
case $host in
x86_64)
    test_arch x86_64 cc
    test_arch aarch64 aarch64-linux-gnu-gcc qemu-aarch64-static
    ;;
aarch64)
    test_arch aarch64 cc
    test_arch x86_64 x86_64-linux-gnu-gcc qemu-x86_64-static
    ;;
*)
    echo "shim-test: the shim supports x86_64 and aarch64, not $host" >&2
    exit 1
    ;;
esac
if [ "${SHIM_TEST_STRICT:-0}" = 1 ] && [ $skipped -gt 0 ]; then
    fail "$skipped architecture(s) skipped"
fi
[ $failures -eq 0 ]
