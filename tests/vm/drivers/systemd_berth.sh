# berth's own systemd-driver cases in the systemd guest (tests/vm/systemd), beside the argv
# replay of drivers/systemd.sh: annotations and device rules as unit properties, a slice
# unit, the default unit name, a reused id (the unit exists), a property systemd refuses, and
# a create that fails after systemd made the unit (nothing may stay). Bundles (written on the
# host): anno, reuse, fail, badprop, slice, run. Facts: sdb_<name>.

CG=/sys/fs/cgroup
HYBRID=""
grep -q 'systemd.unified_cgroup_hierarchy=0' /proc/cmdline && HYBRID=1
S="--systemd-cgroup"
OUT=/tmp/sdb
mkdir -p "$OUT"

prop() {
    systemctl show -p "$2" --value "$1" 2>&1
}

# unified_of PID: the process's cgroup in the unified hierarchy (v2, or systemd's own on hybrid).
unified_of() {
    if [ -n "$HYBRID" ]; then
        sed -n 's/^[0-9]*:name=systemd://p' "/proc/$1/cgroup"
    else
        sed -n 's/^0:://p' "/proc/$1/cgroup"
    fi
}

# gone NAME UNIT [slice]: the unit is unloaded (systemd collects it within 5 s) and no cgroup
# directory of it is left. A stopped slice stays loaded (inactive) in systemd 252; its name
# is still free for a new unit (sdb_slice_again).
gone() {
    _want="not-found inactive"
    [ -n "${3:-}" ] && _want="loaded inactive"
    _i=0
    while [ "$(prop "$2" LoadState) $(prop "$2" ActiveState)" != "$_want" ] && [ "$_i" -lt 50 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
    expect "sdb_$1_unit_gone" "$_want" "$(prop "$2" LoadState) $(prop "$2" ActiveState)"
    expect "sdb_$1_cgroup_gone" "" "$(find $CG -type d -name "$2" 2>/dev/null | tr '\n' ' ')"
}

# fails_one_line NAME WORD COMMAND...: COMMAND fails with one line of stderr containing WORD.
fails_one_line() {
    _n=$1 _w=$2
    shift 2
    if "$@" > "$OUT/$_n.out" 2>&1; then
        result "$_n" fail "succeeded: $*"
        return
    fi
    _lines=$(wc -l < "$OUT/$_n.out")
    if [ "$_lines" -eq 1 ] && grep -qF -- "$_w" "$OUT/$_n.out"; then
        result "$_n" ok "$(cat "$OUT/$_n.out")"
    else
        result "$_n" fail "$_lines lines, want one with [$_w]: $(cat "$OUT/$_n.out")"
    fi
}

# --- annotations, cpuset and device rules become unit properties ---
b=$(bundle anno)
unit=berth-anno.scope
expect_ok sdb_anno_create berth $S create --bundle "$b" anno
expect sdb_anno_active active "$(prop $unit ActiveState)"
expect sdb_anno_timeout "2min 3.456789s" "$(prop $unit TimeoutStopUSec)"
expect sdb_anno_collect inactive-or-failed "$(prop $unit CollectMode)"
expect sdb_anno_description "berth container anno" "$(prop $unit Description)"
expect sdb_anno_slice berthtest.slice "$(prop $unit Slice)"
expect sdb_anno_policy strict "$(prop $unit DevicePolicy)"
_allow=$(prop $unit DeviceAllow)
expect_true sdb_anno_device_allow "$_allow" sh -c "echo '$_allow' | grep -q '/dev/char/1:3 rwm'"
expect sdb_anno_cpus 0 "$(prop $unit AllowedCPUs)"
pid=$(berth state anno | json_field pid)
expect sdb_anno_in_unit "/berthtest.slice/$unit" "$(unified_of "$pid")"

# --- the same unit again (an id reused by a caller): refused, the first one untouched ---
b2=$(bundle reuse)
fails_one_line sdb_reuse_refused "$unit already exists" berth $S create --bundle "$b2" reuse
expect sdb_reuse_no_state "" "$(ls /run/berth | grep reuse)"
expect sdb_reuse_first_active active "$(prop $unit ActiveState)"
expect sdb_reuse_first_alive created "$(status anno)"
expect_ok sdb_anno_delete berth $S delete --force anno
gone anno $unit

# --- the init fails (writing a sysctl the kernel lacks) after systemd made the unit: the
# unit goes with it ---
b=$(bundle fail)
fails_one_line sdb_fail_refused "berth_nonexistent" berth $S create --bundle "$b" fail
gone fail berth-fail.scope
expect sdb_fail_no_state "" "$(ls /run/berth | grep fail)"

# --- a property systemd does not know: one line naming the unit, nothing left ---
b=$(bundle badprop)
fails_one_line sdb_badprop_refused "berth-badprop.scope" berth $S create --bundle "$b" badprop
gone badprop berth-badprop.scope
expect sdb_badprop_no_state "" "$(ls /run/berth | grep badprop)"

# --- a slice unit holds the container directly ---
b=$(bundle slice)
unit=berthtest-s.slice
expect_ok sdb_slice_create berth $S create --bundle "$b" slice
expect sdb_slice_cgroup /berthtest.slice/$unit "$(prop $unit ControlGroup)"
pid=$(berth state slice | json_field pid)
expect sdb_slice_in_unit "/berthtest.slice/$unit" "$(unified_of "$pid")"
expect_ok sdb_slice_delete berth $S delete --force slice
gone slice $unit slice
# The same id again: the unit name is free once the first one is gone.
expect_ok sdb_slice_again berth $S create --bundle "$b" slice
expect_ok sdb_slice_again_delete berth $S delete --force slice

# --- no cgroupsPath: berth-<id>.scope in system.slice; a foreground run cleans up itself ---
b=$(bundle run)
berth $S run --bundle "$b" run > "$OUT/run.out" 2>&1
expect sdb_run_cgroup "/system.slice/berth-run.scope" "$(cat "$OUT/run.out")"
gone run berth-run.scope
