# The systemd cgroup driver in a guest that boots systemd as PID 1 (tests/vm/systemd): replays
# the exact argv shapes of containerd's runc shim with SystemdCgroup=true and of CRI-O/conmon
# with cgroup_manager=systemd, and checks with `systemctl show` and the cgroup files that the
# scope exists with the configured properties, that the container's processes are in it, and
# that it is gone after delete.
#
# The kernel command line names the runtimes: `berth.runtimes=runc,berth` (Debian's runc is
# the reference; berth is /usr/local/bin/berth). Each fact is reported as <runtime>_<name>;
# with both runtimes, same_<name> says whether berth's cgroup files and unit properties equal
# runc's for the same config. Bundles (written on the host): ctrd-<runtime>, crio-<runtime> and
# sys-<runtime> (an empty slice and a unit property annotation), run-<runtime> (a process that
# exits at once, for `run`) and fail-<runtime> (an init that fails after the unit exists).

RUNTIMES=$(sed -n 's/.*berth\.runtimes=\([a-z,]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
[ -n "$RUNTIMES" ] || RUNTIMES=berth
POD=0b2e5d6c_1f4a_4c43_9d1b_7e2a52e0f0a1
CG=/sys/fs/cgroup
OUT=/tmp/sdvm
mkdir -p "$OUT"
HYBRID=""
grep -q 'systemd.unified_cgroup_hierarchy=0' /proc/cmdline && HYBRID=1

# The process containerd and CRI-O exec (runc's --process file), a sleeper.
cat > "$OUT/process.json" <<'EOF'
{"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "1000"],
 "env": ["PATH=/bin:/usr/bin"], "cwd": "/"}
EOF
# What containerd's Update sends on stdin (`update --resources -`).
cat > "$OUT/update.json" <<'EOF'
{"memory": {"limit": 134217728}, "pids": {"limit": 128},
 "cpu": {"shares": 1024, "quota": 100000, "period": 100000}}
EOF

# rt_bin RUNTIME: the binary of runc or berth.
rt_bin() {
    case "$1" in
    runc) echo /usr/sbin/runc ;;
    *) echo /usr/local/bin/berth ;;
    esac
}

# call NAME RUNTIME ARGS...: runs the runtime with exactly ARGS (stdin from $STDIN or
# /dev/null; output to a file, never a pipe: a created container keeps create's stdio); a
# fact NAME, with the output as the detail of a failure. The output stays in $OUT/NAME.out.
call() {
    _n=$1 _bin=$(rt_bin "$2") _in=${STDIN:-/dev/null}
    # A shell may keep an assignment made before a function call: it serves this call only.
    unset STDIN
    shift 2
    if "$_bin" "$@" < "$_in" > "$OUT/$_n.out" 2>&1; then
        result "$_n" ok "$*"
    else
        result "$_n" fail "exit $?: $*: $(head -c 600 "$OUT/$_n.out")"
    fi
}

# prop UNIT NAME: one property as `systemctl show` prints it.
prop() {
    systemctl show -p "$2" --value "$1" 2>&1
}

# cgfile CONTROLLER FILE: the file of cgroup $cgroup for CONTROLLER (its v1 hierarchy on a
# hybrid host, the unified one otherwise).
cgfile() {
    if [ -n "$HYBRID" ]; then
        cat "$CG/$1$cgroup/$2" 2>&1
    else
        cat "$CG$cgroup/$2" 2>&1
    fi
}

# record NAME VALUE...: a fact whose value berth must share with runc; with both runtimes
# run, same_<NAME> compares them (runc runs first). The runtime's name, part of the
# container ids and so of unit and cgroup names, reads RT.
record() {
    _n=$1
    shift
    printf '%s\n' "$*" | sed "s/$rt/RT/g" > "$OUT/$rt.$_n.val"
    if [ "$rt" = berth ] && [ -f "$OUT/runc.$_n.val" ]; then
        expect "same_$_n" "$(cat "$OUT/runc.$_n.val")" "$(cat "$OUT/$rt.$_n.val")"
    fi
}

# check NAME EXPECTED ACTUAL: expect for this runtime's fact <rt>_NAME, and record it.
check() {
    expect "${rt}_$1" "$2" "$3"
    record "$1" "$3"
}

# unit_props UNIT: the resource properties the config sets, as systemd reports them.
unit_props() {
    if [ -n "$HYBRID" ]; then
        systemctl show -p MemoryLimit,CPUShares,CPUQuotaPerSecUSec,TasksMax,Delegate "$1" | sort | tr '\n' ' '
    else
        systemctl show -p MemoryMax,CPUWeight,CPUQuotaPerSecUSec,TasksMax,Delegate "$1" | sort | tr '\n' ' '
    fi
}

# files_limits: memory, cpu and pids limits in the cgroup files.
files_limits() {
    if [ -n "$HYBRID" ]; then
        echo "memory=$(cgfile memory memory.limit_in_bytes) shares=$(cgfile cpu cpu.shares)" \
            "quota=$(cgfile cpu cpu.cfs_quota_us) period=$(cgfile cpu cpu.cfs_period_us) pids=$(cgfile pids pids.max)"
    else
        echo "memory=$(cgfile memory memory.max) weight=$(cgfile cpu cpu.weight)" \
            "cpu.max=$(cgfile cpu cpu.max) pids=$(cgfile pids pids.max)"
    fi
}

# extra_limits: the memory reservation and cpuset the config sets, which systemd models on v2
# (MemoryLow, AllowedCPUs) and runc writes itself on v1.
extra_limits() {
    if [ -n "$HYBRID" ]; then
        echo "soft=$(cgfile memory memory.soft_limit_in_bytes) cpus=$(cgfile cpuset cpuset.cpus)"
    else
        echo "$(systemctl show -p MemoryLow,AllowedCPUs "$unit" | sort | tr '\n' ' ')low=$(cgfile memory memory.low) cpus=$(cgfile cpuset cpuset.cpus)"
    fi
}

# in_scope PID: where PID is. On v2 its one line of /proc/PID/cgroup; on hybrid the
# hierarchies (each v1 one, systemd's and the unified) whose cgroup is not the scope's, but
# misc, which neither systemd 252 nor runc 1.1 manages.
in_scope() {
    if [ -n "$HYBRID" ]; then
        echo "outside: $(awk -F: -v cg="$cgroup" '$2 != "misc" && $3 != cg {print $2 ":" $3}' "/proc/$1/cgroup" | tr '\n' ' ')"
    else
        cat "/proc/$1/cgroup"
    fi
}

# expected_in_scope: what in_scope prints for a process in $cgroup.
expected_in_scope() {
    if [ -n "$HYBRID" ]; then
        echo "outside: "
    else
        echo "0::$cgroup"
    fi
}

# Expected limits for the bundles' resources (memory 64 MiB, reservation 32 MiB, shares 512,
# quota 50000/100000, cpus 0, pids 64) and after update.json (128 MiB, shares 1024, quota 100000/100000, pids 128). cgroup
# v2 weights are runc's conversion of shares: 1 + (shares - 2) * 9999 / 262142.
if [ -n "$HYBRID" ]; then
    PROPS="CPUQuotaPerSecUSec=500ms CPUShares=512 Delegate=yes MemoryLimit=67108864 TasksMax=64 "
    FILES="memory=67108864 shares=512 quota=50000 period=100000 pids=64"
    PROPS2="CPUQuotaPerSecUSec=1s CPUShares=1024 Delegate=yes MemoryLimit=134217728 TasksMax=128 "
    FILES2="memory=134217728 shares=1024 quota=100000 period=100000 pids=128"
    EXTRA="soft=33554432 cpus=0"
else
    PROPS="CPUQuotaPerSecUSec=500ms CPUWeight=20 Delegate=yes MemoryMax=67108864 TasksMax=64 "
    FILES="memory=67108864 weight=20 cpu.max=50000 100000 pids=64"
    PROPS2="CPUQuotaPerSecUSec=1s CPUWeight=39 Delegate=yes MemoryMax=134217728 TasksMax=128 "
    FILES2="memory=134217728 weight=39 cpu.max=100000 100000 pids=128"
    EXTRA="AllowedCPUs=0 MemoryLow=33554432 low=33554432 cpus=0"
fi

# created ENGINE ID UNIT SLICE PIDFILE: the facts right after create: the scope is active in
# its slice with the config's properties, and the init (from the pid file) is in it.
created() {
    e=$1 id=$2 unit=$3 slice=$4 pidfile=$5
    check "${e}_unit" "loaded active $slice" \
        "$(prop "$unit" LoadState) $(prop "$unit" ActiveState) $(prop "$unit" Slice)"
    cgroup=$(prop "$unit" ControlGroup)
    check "${e}_cgroup" "/kubepods.slice/${slice%-pod*}.slice/$slice/$unit" "$cgroup"
    check "${e}_props" "$PROPS" "$(unit_props "$unit")"
    check "${e}_files" "$FILES" "$(files_limits)"
    check "${e}_extra" "$EXTRA" "$(extra_limits)"
    pid=$(cat "$pidfile" 2>/dev/null)
    expect_true "${rt}_${e}_pidfile" "init pid [$pid]" test -n "$pid" -a -d "/proc/$pid"
    expect "${rt}_${e}_init_in_scope" "$(expected_in_scope)" "$(in_scope "$pid")"
    expect_true "${rt}_${e}_init_in_procs" "$(cgfile pids cgroup.procs | tr '\n' ' ')" \
        grep -qx "$pid" "$CG$([ -n "$HYBRID" ] && echo /pids)$cgroup/cgroup.procs"
}

# unit_state UNIT: LoadState and ActiveState.
unit_state() {
    echo "$(prop "$1" LoadState) $(prop "$1" ActiveState)"
}

# gone ENGINE UNIT: after delete, the unit is unloaded at once (systemd collects a stopped
# unit before it handles the next call; a failed one needs ResetFailedUnit), and its cgroup
# directories are removed (given up to 5 s).
gone() {
    check "$1_unit_gone_at_once" "not-found inactive" "$(unit_state "$2")"
    _i=0
    while [ "$(prop "$2" LoadState)" != not-found ] && [ "$_i" -lt 50 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
    check "$1_unit_gone" "not-found inactive" "$(prop "$2" LoadState) $(prop "$2" ActiveState)"
    _left=$(find $CG -type d -name "$2" 2>/dev/null | tr '\n' ' ')
    expect "${rt}_$1_cgroup_gone" "" "$_left"
}

# wait_gone PID: waits up to 10 s for PID to be reaped.
wait_gone() {
    _i=0
    while [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$_i" -lt 100 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
}

for rt in $RUNTIMES; do
    echo "=== $rt ($(rt_bin "$rt") $("$(rt_bin "$rt")" --version 2>&1 | head -n 1))"
    R=/run/sdvm-$rt

    # --- containerd's runc shim, SystemdCgroup = true (go-runc's argv) ---
    id=ctrd-$rt
    b=$(bundle "ctrd-$rt")
    slice=kubepods-besteffort-pod$POD
    slice=$slice.slice
    unit=cri-containerd-$id.scope
    G="--root $R --log $b/log.json --log-format json --systemd-cgroup"
    call "${rt}_ctrd_create" "$rt" $G create --bundle "$b" --pid-file "$b/init.pid" "$id"
    created ctrd "$id" "$unit" "$slice" "$b/init.pid"
    call "${rt}_ctrd_start" "$rt" $G start "$id"
    call "${rt}_ctrd_state" "$rt" $G state "$id"
    expect "${rt}_ctrd_running" running "$(json_field status < "$OUT/${rt}_ctrd_state.out")"

    call "${rt}_ctrd_exec" "$rt" $G exec --process "$OUT/process.json" --detach --pid-file "$b/exec.pid" "$id"
    epid=$(cat "$b/exec.pid" 2>/dev/null)
    expect "${rt}_ctrd_exec_in_scope" "$(expected_in_scope)" "$(in_scope "${epid:-0}")"
    call "${rt}_ctrd_ps" "$rt" $G ps --format json "$id"
    expect "${rt}_ctrd_ps_pids" "$(printf '%s\n' "$pid" "$epid" | sort -n | tr '\n' ' ')" \
        "$(tr -c '0-9' '\n' < "$OUT/${rt}_ctrd_ps.out" | grep . | sort -n | tr '\n' ' ')"

    STDIN=$OUT/update.json call "${rt}_ctrd_update" "$rt" $G update --resources - "$id"
    check ctrd_update_props "$PROPS2" "$(unit_props "$unit")"
    check ctrd_update_files "$FILES2" "$(files_limits)"

    call "${rt}_ctrd_pause" "$rt" $G pause "$id"
    if [ -n "$HYBRID" ]; then
        check ctrd_paused "FROZEN" "$(cgfile freezer freezer.state)"
    else
        check ctrd_paused "frozen 1" "$(grep frozen "$CG$cgroup/cgroup.events")"
    fi
    call "${rt}_ctrd_paused_state" "$rt" $G state "$id"
    expect "${rt}_ctrd_paused_status" paused "$(json_field status < "$OUT/${rt}_ctrd_paused_state.out")"
    call "${rt}_ctrd_resume" "$rt" $G resume "$id"
    if [ -n "$HYBRID" ]; then
        check ctrd_resumed "THAWED" "$(cgfile freezer freezer.state)"
    else
        check ctrd_resumed "frozen 0" "$(grep frozen "$CG$cgroup/cgroup.events")"
    fi

    call "${rt}_ctrd_stats" "$rt" $G events --stats "$id"
    expect_true "${rt}_ctrd_stats_json" "$(head -c 300 "$OUT/${rt}_ctrd_stats.out")" \
        grep -q '"type": *"stats"' "$OUT/${rt}_ctrd_stats.out"
    _pc=$(tr ',' '\n' < "$OUT/${rt}_ctrd_stats.out" | sed -n 's/.*"pids": *{ *"current": *\([0-9]*\).*/\1/p')
    expect "${rt}_ctrd_stats_pids" 2 "$_pc"

    # kill --all while both live: every process of the scope gets the signal. Should the init
    # survive (runc 1.1.5 on hybrid reads the pids from the devices hierarchy, where systemd
    # left the init in the pod's slice), stop it as containerd does, `kill ID 9`, so the rest
    # still runs.
    call "${rt}_ctrd_kill_all" "$rt" $G kill --all "$id" 9
    wait_gone "$epid"
    wait_gone "$pid"
    expect_true "${rt}_ctrd_kill_all_exec" "exec $epid gone" test ! -d "/proc/$epid"
    expect_true "${rt}_ctrd_kill_all_init" "init $pid gone" test ! -d "/proc/$pid"
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
        "$(rt_bin "$rt")" $G kill "$id" 9
        wait_gone "$pid"
    fi
    call "${rt}_ctrd_stopped_state" "$rt" $G state "$id"
    expect "${rt}_ctrd_stopped" stopped "$(json_field status < "$OUT/${rt}_ctrd_stopped_state.out")"
    call "${rt}_ctrd_delete" "$rt" $G delete "$id"
    gone ctrd "$unit"
    expect_true "${rt}_ctrd_state_gone" "no $R/$id" test ! -e "$R/$id"

    # --- CRI-O with cgroup_manager = systemd: conmon runs create (--systemd-cgroup first,
    # then the runtime args CRI-O gave it) and exec (without --systemd-cgroup); CRI-O runs
    # the rest itself with --root R --systemd-cgroup.
    id=crio-$rt
    b=$(bundle "crio-$rt")
    slice=kubepods-burstable-pod$POD.slice
    unit=crio-$id.scope
    C="--root $R --systemd-cgroup"
    call "${rt}_crio_create" "$rt" --systemd-cgroup --root="$R" create --bundle "$b" --pid-file "$b/init.pid" "$id"
    created crio "$id" "$unit" "$slice" "$b/init.pid"
    call "${rt}_crio_start" "$rt" $C start "$id"
    call "${rt}_crio_exec" "$rt" --root="$R" exec --pid-file "$b/exec.pid" --process "$OUT/process.json" --detach "$id"
    epid=$(cat "$b/exec.pid" 2>/dev/null)
    expect "${rt}_crio_exec_in_scope" "$(expected_in_scope)" "$(in_scope "${epid:-0}")"
    STDIN=$OUT/update.json call "${rt}_crio_update" "$rt" $C update --resources - "$id"
    check crio_update_props "$PROPS2" "$(unit_props "$unit")"
    check crio_update_files "$FILES2" "$(files_limits)"
    call "${rt}_crio_delete_force" "$rt" $C delete --force "$id"
    wait_gone "$pid"
    wait_gone "$epid"
    expect_true "${rt}_crio_killed" "init $pid and exec $epid gone" test ! -d "/proc/$pid" -a ! -d "/proc/$epid"
    gone crio "$unit"
    expect_true "${rt}_crio_state_gone" "no $R/$id" test ! -e "$R/$id"

    # --- an empty slice means system.slice; an org.systemd.property.<Name> annotation (a
    # GVariant text value) becomes a property of the unit.
    id=sys-$rt
    b=$(bundle "sys-$rt")
    unit=cri-containerd-$id.scope
    G="--root $R --log $b/log.json --log-format json --systemd-cgroup"
    call "${rt}_sys_create" "$rt" $G create --bundle "$b" --pid-file "$b/init.pid" "$id"
    check sys_unit "loaded active system.slice" \
        "$(prop "$unit" LoadState) $(prop "$unit" ActiveState) $(prop "$unit" Slice)"
    check sys_cgroup "/system.slice/$unit" "$(prop "$unit" ControlGroup)"
    check sys_annotation "CollectMode=inactive-or-failed" "$(systemctl show -p CollectMode "$unit")"
    pid=$(cat "$b/init.pid" 2>/dev/null)
    call "${rt}_sys_delete_force" "$rt" $G delete --force "$id"
    wait_gone "$pid"
    gone sys "$unit"

    # --- a foreground run of a process that exits at once: the unit is gone (not loaded)
    # the moment the runtime returns, nothing waited for.
    id=run-$rt
    b=$(bundle "run-$rt")
    unit=cri-containerd-$id.scope
    call "${rt}_run" "$rt" --root "$R" --systemd-cgroup run --bundle "$b" "$id"
    check run_unit_gone_at_once "not-found inactive" "$(unit_state "$unit")"
    expect "${rt}_run_cgroup_gone" "" "$(find $CG -type d -name "$unit" 2>/dev/null | tr '\n' ' ')"
    expect_true "${rt}_run_state_gone" "no $R/$id" test ! -e "$R/$id"

    # --- a create whose init fails (a sysctl the kernel lacks) after systemd made the unit:
    # the runtime removes the unit before it returns, nothing waited for.
    id=fail-$rt
    b=$(bundle "fail-$rt")
    unit=cri-containerd-$id.scope
    if "$(rt_bin "$rt")" --root "$R" --systemd-cgroup create --bundle "$b" "$id" > "$OUT/${rt}_fail.out" 2>&1; then
        result "${rt}_fail_refused" fail "create succeeded"
    else
        result "${rt}_fail_refused" ok "$(head -c 300 "$OUT/${rt}_fail.out")"
    fi
    check fail_unit_gone_at_once "not-found inactive" "$(unit_state "$unit")"
    expect "${rt}_fail_cgroup_gone" "" "$(find $CG -type d -name "$unit" 2>/dev/null | tr '\n' ' ')"
    expect_true "${rt}_fail_state_gone" "no $R/$id" test ! -e "$R/$id"
done
