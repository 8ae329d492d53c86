# The benchmark in a guest (tests/vm/bench.sh, `make vm-bench`): runs benches/compare's
# binary, packed as /vm/bin/compare, on the berth under test, crun and runc, with the rows and
# iterations the kernel command line names (berth.bench_rows=core,…; berth.bench_iterations=N).
# The table goes to the console between BENCH-TABLE and BENCH-TABLE-END.
arg() {
    sed -n "s/.*berth\.$1=\([^ ]*\).*/\1/p" /proc/cmdline
}
rows=$(arg bench_rows)
iterations=$(arg bench_iterations)
# crun and runc: packed into /vm/bin (pure v2 guest) or installed in the image (systemd guest).
export PATH="/vm/bin:$PATH"
export BERTH_BENCH_PEAK_RSS=/vm/bin/peak-rss
export BERTH_BENCH_BUSYBOX=/vm/rootfs/bin/busybox
export BERTH_BENCH_NOTE="guest: $(uname -r) under qemu TCG, $(nproc) vCPUs, $(
    if [ "$(cat /proc/1/comm)" = systemd ]; then echo "systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1"; else echo "pure cgroup v2, busybox init"; fi
); absolute times are TCG's, read the ratios"
for rt in crun runc; do
    command -v "$rt" >/dev/null || result "bench_$rt" fail "$rt is not in the guest"
done
echo BENCH-TABLE
if /vm/bin/compare --berth /usr/local/bin/berth --rows "${rows:-core}" --iterations "${iterations:-5}" > /tmp/bench.out 2> /tmp/bench.err; then
    cat /tmp/bench.out
    echo BENCH-TABLE-END
    result bench_ran ok "rows ${rows:-core}, ${iterations:-5} iterations"
else
    cat /tmp/bench.out /tmp/bench.err
    echo BENCH-TABLE-END
    result bench_ran fail "the benchmark failed: $(tail -n 1 /tmp/bench.err)"
fi

# berth's own phases (BERTH_TRACE) over berth.bench_trace=N more `run`s of a stock `berth
# spec` bundle running /bin/true (default 10; 0 skips): one `BENCH-TRACE <record>` line
# each, which tests/vm/bench.sh sums up. In the systemd guest with --systemd-cgroup and a
# scope in system.slice, else in the cgroup /berth-test/trace.
trace_runs=$(arg bench_trace)
if [ "${trace_runs:-10}" -gt 0 ]; then
    t=/tmp/bench-trace
    mkdir -p "$t/bundle" "$t/root"
    ln -s /vm/rootfs "$t/bundle/rootfs"
    (cd "$t" && berth spec && sed 's|"terminal": true|"terminal": false|; s|^\([[:space:]]*\)"sh"$|\1"/bin/true"|' config.json > stock.json)
    flags=""
    [ "$(cat /proc/1/comm)" = systemd ] && flags=--systemd-cgroup
    i=0
    while [ "$i" -lt "${trace_runs:-10}" ]; do
        i=$((i + 1))
        cg=/berth-test/trace
        [ -z "$flags" ] || cg="system.slice:berth-bench:trace-$i"
        sed "s|\"linux\": {|& \"cgroupsPath\": \"$cg\",|" "$t/stock.json" > "$t/bundle/config.json"
        BERTH_TRACE=1 /usr/local/bin/berth --root "$t/root" $flags run --bundle "$t/bundle" "trace-$i" \
            > /dev/null 2> "$t/err" || result "bench_trace_$i" fail "berth run: $(tail -n 1 "$t/err")"
        sed -n 's/.*msg="trace" \(.*\)/BENCH-TRACE \1/p' "$t/err"
        # Another berth to compare with (VM_BENCH_BEFORE), traced in turn with this one.
        [ -x /vm/bin/berth-before ] || continue
        sed "s|\"linux\": {|& \"cgroupsPath\": \"$cg-before\",|" "$t/stock.json" > "$t/bundle/config.json"
        BERTH_TRACE=1 /vm/bin/berth-before --root "$t/root" $flags run --bundle "$t/bundle" "trace-$i-before" \
            > /dev/null 2> "$t/err" || result "bench_trace_before_$i" fail "berth run: $(tail -n 1 "$t/err")"
        sed -n 's/.*msg="trace" \(.*\)/BENCH-TRACE-BEFORE \1/p' "$t/err"
    done
    rmdir /sys/fs/cgroup/berth-test/trace /sys/fs/cgroup/berth-test/trace-before /sys/fs/cgroup/berth-test 2>/dev/null || true
fi
