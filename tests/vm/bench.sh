#!/bin/sh
# `make vm-bench`: benches/compare (berth, crun and runc interleaved) in the project's qemu
# guests, whose cgroup setups this host lacks (tests/vm/README.md):
#   bench.sh VMDIR BERTH COMPARE
# boots the pure cgroup v2 guest (initramfs; crun and runc packed with their libraries) with
# rows $VM_BENCH_ROWS_V2 (default core), then the systemd guest (systemd 252 on the cached
# Debian image, which holds crun and runc) with rows $VM_BENCH_ROWS_SYSTEMD (default systemd),
# $VM_BENCH_ITERATIONS iterations a row (default 5: TCG is slow, read the ratios), and prints
# each table, then the median of each of berth's traced phases (BERTH_TRACE) over
# $VM_BENCH_TRACE more `run`s in the guest (default 10; 0 skips), each in turn with a run of
# the berth binary $VM_BENCH_BEFORE when set (to compare two builds in one boot). VM_BENCH_GUESTS="v2 systemd" picks the guests. COMPARE is the benchmark's
# executable (`cargo bench --no-run --bench compare --target-dir target/bench` names it).
# Exits 77 when qemu (or mmdebstrap, for the systemd guest) cannot be installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "vm/bench.sh: $*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: bench.sh VMDIR BERTH COMPARE"
vmdir=$1 berth=$2 compare=$3
[ -x "$berth" ] || die "berth binary $berth not found (make build)"
[ -x "$compare" ] || die "benchmark binary $compare not found"
rows_v2=${VM_BENCH_ROWS_V2:-core}
rows_sd=${VM_BENCH_ROWS_SYSTEMD:-systemd}
iterations=${VM_BENCH_ITERATIONS:-5}
trace=${VM_BENCH_TRACE:-10}
guests=${VM_BENCH_GUESTS:-v2 systemd}

mkdir -p "$vmdir"
vmdir=$(cd "$vmdir" && pwd)
kernel=$("$here/build.sh" kernel "$vmdir")
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The peak-RSS meter, built here: the guests have no C compiler.
peak=$work/peak-rss
${CC:-cc} -O2 -static -Wall -Werror -o "$peak" "$repo/scripts/peak-rss.c" ||
    die "cannot build scripts/peak-rss.c"

# boot NAME INITRD APPEND [DISK]: runs the guest (TCG, $VM_BENCH_CPUS vCPUs, default 2: with
# one, an RCU grace period, which a migration by pid waits for, ends at the next context
# switch, unlike on any real host), its console in $work/NAME.log, killed after 30 minutes;
# prints the table and what failed.
boot() {
    name=$1 initrd=$2 append=$3 disk=${4:-}
    log=$work/$name.log
    start=$(date +%s)
    set -- -machine q35 -accel tcg -cpu max -m 1024 -smp "${VM_BENCH_CPUS:-2}" -nodefaults -nographic \
        -serial stdio -monitor none -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$append"
    [ -z "$disk" ] || set -- "$@" -drive "format=raw,if=virtio,snapshot=on,file=$disk"
    status=0
    timeout 1800 qemu-system-x86_64 "$@" < /dev/null > "$log" 2> "$work/$name.err" || status=$?
    tr -d '\r' < "$log" > "$log.txt"
    echo "== $name guest ($(($(date +%s) - start)) s on the host): $append"
    sed -n '/^BENCH-TABLE$/,/^BENCH-TABLE-END$/p' "$log.txt" | sed '1d;$d'
    grep 'RESULT [^ ]* fail' "$log.txt" || true
    grep '^BENCH-TRACE ' "$log.txt" | trace_summary berth
    grep '^BENCH-TRACE-BEFORE ' "$log.txt" | trace_summary "${VM_BENCH_BEFORE:-} (VM_BENCH_BEFORE), in turn with berth"
    if [ "$status" -ne 0 ] || ! grep -q 'RESULT bench_ran ok' "$log.txt"; then
        echo "vm/bench.sh: the $name guest failed (qemu exit $status); its console:" >&2
        tail -n 40 "$log.txt" >&2
        cat "$work/$name.err" >&2
        return 1
    fi
}

# trace_summary: the BENCH-TRACE records (berth's trace lines) on stdin, as the median of
# each phase and init step over the runs (python3; without it, nothing).
trace_summary() {
    command -v python3 > /dev/null || return 0
    python3 -c '
import json, re, sys, statistics
runs = {"phases": {}, "init_steps": {}}
n = 0
totals = []
for line in sys.stdin:
    n += 1
    m = re.search(r"total_us=([0-9]+)", line)
    totals += [int(m.group(1))] if m else []
    for key in runs:
        m = re.search(key + r"=(\[.*?\])(?: [a-z_]+=|$)", line.strip())
        for item in json.loads(m.group(1)) if m else []:
            runs[key].setdefault(item["name"], []).append(item["us"])
if n:
    print("%s: traced phases over %d runs (BERTH_TRACE; median / min, us):" % (sys.argv[1], n))
    if totals:
        print("  %-59s %8d %8d" % ("the whole run", statistics.median(totals), min(totals)))
    for key, title in (("phases", "runtime"), ("init_steps", "init")):
        for name, us in runs[key].items():
            print("  %-8s %-50s %8d %8d" % (title, name, statistics.median(us), min(us)))
' "$1"
}

before=""
[ -z "${VM_BENCH_BEFORE:-}" ] || before="$VM_BENCH_BEFORE:/vm/bin/berth-before"
# VM_BENCH_APPEND: more kernel arguments, e.g. norandmaps (TCG translates code again at
# every new address, so with ASLR each process pays for translating all it runs).
bench_args="${VM_BENCH_APPEND:-} berth.bench_rows=ROWS berth.bench_iterations=$iterations berth.bench_trace=$trace"
failed=0
for guest in $guests; do
    case $guest in
    v2)
        VM_PACK="$compare:/vm/bin/compare $peak:/vm/bin/peak-rss $before $(command -v crun):/vm/bin/crun $(command -v runc):/vm/bin/runc $(command -v unshare):/vm/bin/unshare $(command -v chroot):/vm/bin/chroot" \
            VMDIR=$vmdir "$here/build.sh" initramfs "$work/v2.img" "$berth" "$here/drivers/bench.sh"
        boot v2 "$work/v2.img" \
            "console=ttyS0 cgroup_no_v1=all panic=-1 loglevel=4 $(echo "$bench_args" | sed "s/ROWS/$rows_v2/")" ||
            failed=1
        ;;
    systemd)
        image=$("$here/build.sh" sdroot "$vmdir")
        VM_INIT=systemd VM_PACK="$compare:/vm/bin/compare $peak:/vm/bin/peak-rss $before" \
            VMDIR=$vmdir "$here/build.sh" initramfs "$work/systemd.img" "$berth" "$here/drivers/bench.sh"
        boot systemd "$work/systemd.img" \
            "console=ttyS0 panic=-1 loglevel=4 systemd.show_status=0 $(echo "$bench_args" | sed "s/ROWS/$rows_sd/")" \
            "$image" || failed=1
        ;;
    *) die "VM_BENCH_GUESTS: unknown guest $guest (v2, systemd)" ;;
    esac
done
exit "$failed"
