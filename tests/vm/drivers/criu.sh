# Checkpoint/restore with criu in the systemd guest (Debian's 6.1 kernel, where criu 3.17's
# `criu check` passes), for berth and Debian's runc 1.1.5 in turn, with the same bundles and
# flags. Facts are `<rt>_<fact>`; `same_<fact>` compares the two runtimes' outcomes.
# Bundles (tests/integration/vm_criu.rs): `counter` writes an increasing count to /count in
# its rootfs every 0.2 s, its stdio its own files; `tty` does the same with process.terminal.

CP=/run/cp

rt_cmd() {
    if [ "$rt" = berth ]; then
        "$BERTH" --root /run/berth "$@"
    else
        runc --root /run/runc-cr "$@"
    fi
}

rt_status() {
    rt_cmd state "$1" 2>/dev/null | json_field status
}

# count BUNDLE: the counter's last value (0 before the first).
count() {
    _c=$(cat "$1/rootfs/count" 2>/dev/null)
    echo "${_c:-0}"
}

# wait_count BUNDLE N: waits up to 20 s for the count to exceed N.
wait_count() {
    _i=0
    while [ "$(count "$1")" -le "$2" ]; do
        _i=$((_i + 1))
        [ "$_i" -gt 200 ] && return 1
        sleep 0.1
    done
}

# start_counter ID: a fresh counter bundle for $rt, started detached; prints the bundle.
start_counter() {
    _b=$(bundle counter)
    _nb=$BUNDLES/$rt-$1
    rm -rf "$_nb"
    mv "$_b" "$_nb"
    _err=$(rt_cmd run -d --bundle "$_nb" "$1" </dev/null 2>&1 >/dev/null)
    _code=$?
    wait_count "$_nb" 2
    expect "${rt}_run_$1" 0 "$_code" "$_err" >&2
    echo "$_nb"
}

# log_tail DIR: the first error line of criu's logs in DIR, for failure details.
log_tail() {
    grep -h -m1 'Error' "$1"/*.log 2>/dev/null | head -n 1
}

counter_scenario() {
    b=$(start_counter c1)
    out=$(rt_cmd checkpoint --image-path "$CP/$rt-c1" c1 2>&1)
    expect "${rt}_checkpoint" 0 "$?" "$out $(log_tail "$CP/$rt-c1")"
    n=$(count "$b")
    expect "${rt}_checkpoint_removed" "" "$(rt_status c1)"
    out=$(rt_cmd restore -d --bundle "$b" --image-path "$CP/$rt-c1" c1 </dev/null 2>&1 >/dev/null)
    expect "${rt}_restore" 0 "$?" "$out $(log_tail "$CP/$rt-c1")"
    expect "${rt}_restore_running" running "$(rt_status c1)"
    # The state's keys, sorted, for same_state_keys.
    eval "${rt}_state_keys=\"$(rt_cmd state c1 2>/dev/null | sed -n 's/^ *"\([a-zA-Z]*\)":.*/\1/p' | sort | tr '\n' ' ')\""
    pid=$(rt_cmd state c1 2>/dev/null | json_field pid)
    expect_true "${rt}_restore_pid" "pid $pid" test -n "$pid" -a -d "/proc/$pid"
    first=$(count "$b")
    expect_true "${rt}_count_continues" "at checkpoint $n, after restore $first" \
        test "$first" -ge "$n"
    expect_true "${rt}_count_grows" "from $first" wait_count "$b" "$first"
    rt_cmd kill c1 KILL
    _i=0
    while [ "$(rt_status c1)" != stopped ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    expect "${rt}_killed" stopped "$(rt_status c1)"
    rt_cmd delete c1
    expect "${rt}_deleted" "0 " "$? $(rt_status c1)"
}

leave_running_scenario() {
    b=$(start_counter c2)
    # The count before the dump: the restored counter goes on from at least there (the
    # original, left running, counts further before it is deleted).
    n=$(count "$b")
    out=$(rt_cmd checkpoint --leave-running --image-path "$CP/$rt-c2" c2 2>&1)
    expect "${rt}_leave_running" 0 "$?" "$out $(log_tail "$CP/$rt-c2")"
    expect "${rt}_left_running" running "$(rt_status c2)"
    rt_cmd delete -f c2 >/dev/null 2>&1
    m=$(count "$b")
    # Restored under another id, from the same bundle.
    out=$(rt_cmd restore -d --bundle "$b" --image-path "$CP/$rt-c2" c3 </dev/null 2>&1 >/dev/null)
    expect "${rt}_restore_other_id" 0 "$?" "$out $(log_tail "$CP/$rt-c2")"
    expect "${rt}_other_id_running" running "$(rt_status c3)"
    _i=0
    while [ "$(count "$b")" = "$m" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    expect_true "${rt}_other_id_continues" "before the dump $n, deleted at $m, now $(count "$b")" \
        test "$(count "$b")" -gt "$n"
    # Restoring into an id that exists fails and leaves the container alone.
    out=$(rt_cmd restore -d --bundle "$b" --image-path "$CP/$rt-c2" c3 </dev/null 2>&1 >/dev/null)
    code=$?
    expect_true "${rt}_restore_existing_fails" "$out" test "$code" -ne 0
    expect "${rt}_existing_still_running" running "$(rt_status c3)"
    rt_cmd delete -f c3 >/dev/null 2>&1
}

pre_dump_scenario() {
    b=$(start_counter c4)
    out=$(rt_cmd checkpoint --pre-dump --image-path "$CP/$rt-pre" c4 2>&1)
    expect "${rt}_pre_dump" 0 "$?" "$out $(log_tail "$CP/$rt-pre")"
    expect "${rt}_pre_dump_running" running "$(rt_status c4)"
    out=$(rt_cmd checkpoint --image-path "$CP/$rt-final" --parent-path "../$rt-pre" c4 2>&1)
    expect "${rt}_final_dump" 0 "$?" "$out $(log_tail "$CP/$rt-final")"
    expect_true "${rt}_parent_link" "$(ls -l "$CP/$rt-final/parent" 2>&1)" test -L "$CP/$rt-final/parent"
    # Reported, not asserted: the final dump's size depends on how many of the counter's
    # `sleep`s (born after the pre-dump, so dumped whole; criu logs "No parent image found"
    # for them, for runc as for berth) it caught. The restore below needs the init's pages
    # that are only in the parent: restore_incremental is the check that the link works.
    pre=$(cat "$CP/$rt-pre"/pages-*.img 2>/dev/null | wc -c)
    final=$(cat "$CP/$rt-final"/pages-*.img 2>/dev/null | wc -c)
    result "${rt}_parent_pages" ok "pre-dump $pre bytes of pages, final dump $final"
    n=$(count "$b")
    out=$(rt_cmd restore -d --bundle "$b" --image-path "$CP/$rt-final" c4 </dev/null 2>&1 >/dev/null)
    expect "${rt}_restore_incremental" 0 "$?" "$out $(log_tail "$CP/$rt-final")"
    expect_true "${rt}_incremental_continues" "at checkpoint $n, now $(count "$b")" \
        test "$(count "$b")" -ge "$n"
    rt_cmd delete -f c4 >/dev/null 2>&1
}

# A terminal container: its pty master goes to a console socket held by /vm/recvtty.py.
tty_scenario() {
    _b=$(bundle tty)
    b=$BUNDLES/$rt-tty
    rm -rf "$b"
    mv "$_b" "$b"
    sock=/run/$rt-tty.sock
    python3 /vm/recvtty.py "$sock" &
    holder=$!
    while [ ! -S "$sock" ]; do sleep 0.1; done
    rt_cmd run -d --console-socket "$sock" --bundle "$b" t1 </dev/null >/dev/null 2>&1
    wait_count "$b" 2
    out=$(rt_cmd checkpoint --shell-job --image-path "$CP/$rt-tty" t1 2>&1)
    tty_cp=$?
    expect "${rt}_tty_checkpoint" 0 "$tty_cp" "$out $(log_tail "$CP/$rt-tty")"
    n=$(count "$b")
    python3 /vm/recvtty.py "$sock.2" &
    holder2=$!
    while [ ! -S "$sock.2" ]; do sleep 0.1; done
    out=$(rt_cmd restore -d --shell-job --console-socket "$sock.2" --bundle "$b" \
        --image-path "$CP/$rt-tty" t1 </dev/null 2>&1 >/dev/null)
    tty_restore=$?
    expect "${rt}_tty_restore" 0 "$tty_restore" "$out $(log_tail "$CP/$rt-tty")"
    tty_running=$(rt_status t1)
    expect "${rt}_tty_running" running "$tty_running"
    expect_true "${rt}_tty_continues" "at checkpoint $n" wait_count "$b" "$n"
    # The restored shell's terminal is the new pty: its /dev/console and stdout are one tty.
    tpid=$(rt_cmd state t1 2>/dev/null | json_field pid)
    expect_true "${rt}_tty_console" "$(ls -lL "/proc/$tpid/fd/1" "/proc/$tpid/root/dev/console" 2>&1)" \
        test "$(stat -Lc %t:%T "/proc/$tpid/fd/1" 2>&1)" = "$(stat -Lc %t:%T "/proc/$tpid/root/dev/console" 2>&1)"
    rt_cmd delete -f t1 >/dev/null 2>&1
    kill "$holder" "$holder2" 2>/dev/null
    eval "${rt}_tty=\"$tty_cp $tty_restore $tty_running\""
}

failure_scenario() {
    rt_cmd checkpoint --image-path "$CP/$rt-none" nosuch >/dev/null 2>&1
    eval "${rt}_fail_missing=$?"
    # A stopped container cannot be dumped; it stays as it was.
    b=$(start_counter s1)
    rt_cmd kill s1 KILL
    _i=0
    while [ "$(rt_status s1)" != stopped ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    out=$(rt_cmd checkpoint --image-path "$CP/$rt-stopped" s1 2>&1)
    code=$?
    eval "${rt}_fail_stopped=$code"
    expect_true "${rt}_checkpoint_stopped_fails" "$out" test "$code" -ne 0
    expect "${rt}_stopped_kept" stopped "$(rt_status s1)"
    rt_cmd delete -f s1 >/dev/null 2>&1
    rm -rf "$b"
    mkdir -p "$CP/$rt-empty"
    b=$(bundle counter)
    rt_cmd restore -d --bundle "$b" --image-path "$CP/$rt-empty" e1 </dev/null >/dev/null 2>&1
    code=$?
    eval "${rt}_fail_empty=$code"
    expect "${rt}_empty_restore_leaves_nothing" "" "$(rt_status e1)"
    rm -rf "$b"
}

# trace_phases FILE: `name=us` for each phase of the trace record in FILE (berth's stderr
# with BERTH_TRACE=1 and --log-format json), then `total=us`.
trace_phases() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        record = json.loads(line)
    except ValueError:
        continue
    if record.get("msg") == "trace":
        for phase in record["phases"]:
            print("%s=%d" % (phase["name"], phase["us"]))
        print("total=%d" % record["total_us"])
' "$1"
}

# has_phases FILE NAME...: every NAME is a phase of the trace in FILE.
has_phases() {
    _f=$1
    shift
    for _p in "$@"; do
        trace_phases "$_f" | grep -q "^$_p=" || return 1
    done
}

# phase_us FILE NAME: the microseconds of phase NAME in FILE's trace (empty when absent).
phase_us() {
    trace_phases "$1" | sed -n "s/^$2=//p"
}

# traced ARGS...: berth with BERTH_TRACE=1 and JSON records on stderr.
traced() {
    BERTH_TRACE=1 "$BERTH" --root /run/berth --log-format json "$@"
}

# checkpoint_traced COLD_CODE WARM_CODE: both checkpoints succeeded and their traces
# ($T/cp-cold, $T/cp-warm) name the phases; only the cold one ran criu check.
checkpoint_traced() {
    [ "$1" = 0 ] && [ "$2" = 0 ] &&
        has_phases "$T/cp-cold" "reading state.json and the status" "criu check (running criu)" \
            "loading config.json" "finding external mounts" \
            "writing the descriptors and masked files" "building criu's arguments" "criu dump" &&
        has_phases "$T/cp-warm" "criu check (cached verdict)" "criu dump" \
            "waiting for the dumped init to exit" "removing the container"
}

# restore_traced COLD_CODE WARM_CODE: the same for the restores ($T/rs-cold, $T/rs-warm).
restore_traced() {
    [ "$1" = 0 ] && [ "$2" = 0 ] &&
        has_phases "$T/rs-cold" "loading config.json" "criu check (running criu)" \
            "reading the checkpoint's descriptors and masked files" "claiming the state dir" \
            "creating the cgroup" "applying cgroup limits" "binding the rootfs for criu" \
            "hook plan, network namespace, console, external mounts" \
            "building criu's arguments" "criu restore" "writing state.json" &&
        has_phases "$T/rs-warm" "criu check (cached verdict)" "criu restore"
}

# berth alone (runc has no BERTH_TRACE): a traced checkpoint and restore name their phases,
# and criu check runs only when the state root holds no verdict (@criu-check) for this criu
# and kernel. Each of checkpoint and restore is traced once with the cache removed (cold)
# and once with it as the previous call left it (warm).
trace_scenario() {
    rt=berth
    T=/run/trace
    mkdir -p "$T"
    b=$(start_counter tr)
    rm -f /run/berth/@criu-check
    traced checkpoint --leave-running --image-path "$CP/trace-1" tr 2>"$T/cp-cold"
    cp_cold=$?
    expect_true berth_check_cache_written "$(cat /run/berth/@criu-check 2>&1)" \
        grep -q '"verdict":"passed"' /run/berth/@criu-check
    expect_true berth_list_skips_check_cache "$("$BERTH" --root /run/berth list -q 2>&1)" \
        sh -c "! '$BERTH' --root /run/berth list -q | grep -q @"
    traced checkpoint --image-path "$CP/trace-2" tr 2>"$T/cp-warm"
    cp_warm=$?
    expect_true berth_checkpoint_traced "cold $cp_cold: $(trace_phases "$T/cp-cold" | tr '\n' ' ')| warm $cp_warm: $(trace_phases "$T/cp-warm" | tr '\n' ' ')" \
        checkpoint_traced "$cp_cold" "$cp_warm"
    rm -f /run/berth/@criu-check
    traced restore -d --bundle "$b" --image-path "$CP/trace-2" tr </dev/null >/dev/null 2>"$T/rs-cold"
    rs_cold=$?
    "$BERTH" --root /run/berth delete -f tr >/dev/null 2>&1
    traced restore -d --bundle "$b" --image-path "$CP/trace-2" tr </dev/null >/dev/null 2>"$T/rs-warm"
    rs_warm=$?
    expect_true berth_restore_traced "cold $rs_cold: $(trace_phases "$T/rs-cold" | tr '\n' ' ')| warm $rs_warm: $(trace_phases "$T/rs-warm" | tr '\n' ' ')" \
        restore_traced "$rs_cold" "$rs_warm"
    "$BERTH" --root /run/berth delete -f tr >/dev/null 2>&1
    # The saving, reported (TCG: read the ratio, not the times).
    result berth_check_cost ok \
        "checkpoint: criu check $(phase_us "$T/cp-cold" "criu check (running criu)") us cold," \
        "$(phase_us "$T/cp-warm" "criu check (cached verdict)") us warm;" \
        "total $(phase_us "$T/cp-cold" total) us cold, $(phase_us "$T/cp-warm" total) us warm;" \
        "restore: criu check $(phase_us "$T/rs-cold" "criu check (running criu)") us cold," \
        "$(phase_us "$T/rs-warm" "criu check (cached verdict)") us warm;" \
        "total $(phase_us "$T/rs-cold" total) us cold, $(phase_us "$T/rs-warm" total) us warm"
    for _f in cp-cold cp-warm rs-cold rs-warm; do
        echo "CRIU-TRACE $_f $(trace_phases "$T/$_f" | tr '\n' ' ')"
    done
}

mkdir -p "$CP"
expect_true criu_check "$(criu check 2>&1 | head -n 3)" criu check
features=$("$BERTH" features 2>&1)
expect_true features_checkpoint "$(echo "$features" | grep checkpoint)" \
    sh -c "echo '$features' | grep -q '\"org.berth.checkpoint\": \"criu 3'"
expect_true berth_features_cache "$(cat /run/berth/@criu-check 2>&1)" \
    grep -q '"verdict":"passed"' /run/berth/@criu-check
trace_scenario
for rt in berth runc; do
    counter_scenario
    leave_running_scenario
    pre_dump_scenario
    tty_scenario
    failure_scenario
done
expect same_tty "$runc_tty" "$berth_tty"
expect same_fail_missing "$(test "$runc_fail_missing" -ne 0; echo $?)" "$(test "$berth_fail_missing" -ne 0; echo $?)"
expect same_fail_stopped "$(test "$runc_fail_stopped" -ne 0; echo $?)" "$(test "$berth_fail_stopped" -ne 0; echo $?)"
expect same_state_keys "$runc_state_keys" "$berth_state_keys"
expect same_fail_empty "$(test "$runc_fail_empty" -ne 0; echo $?)" "$(test "$berth_fail_empty" -ne 0; echo $?)"
