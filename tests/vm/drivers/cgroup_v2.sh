# berth's cgroup v2 support on a pure v2 host: placement at cgroupsPath, limits written and read
# back, pids.max containing a fork bomb, memory.max OOM-killing, pause/resume through
# cgroup.freeze, and the cgroup removed on delete. Bundles: limits, bomb, hog, nsmount.
CG=/sys/fs/cgroup

# placement and limits: the init sits in its cgroupsPath with the configured limits.
b=$(bundle limits)
expect_ok limits_create berth create -b "$b" vm-limits
pid=$(berth state vm-limits | json_field pid)
expect limits_placement "0::/berth-vm/limits" "$(cat "/proc/$pid/cgroup")"
expect limits_memory_max 67108864 "$(cat $CG/berth-vm/limits/memory.max)"
expect limits_pids_max 20 "$(cat $CG/berth-vm/limits/pids.max)"
expect limits_cpu_max "50000 100000" "$(cat $CG/berth-vm/limits/cpu.max)"

# pause/resume: cgroup.freeze set and reported frozen, state paused, then thawed and running.
expect_ok start berth start vm-limits
expect_ok pause berth pause vm-limits
expect pause_status paused "$(status vm-limits)"
expect pause_freeze 1 "$(cat $CG/berth-vm/limits/cgroup.freeze)"
expect pause_frozen "frozen 1" "$(grep frozen $CG/berth-vm/limits/cgroup.events)"
expect_ok resume berth resume vm-limits
expect resume_status running "$(status vm-limits)"
expect resume_frozen "frozen 0" "$(grep frozen $CG/berth-vm/limits/cgroup.events)"
expect_ok limits_delete berth delete --force vm-limits
expect_true limits_cgroup_removed "$CG/berth-vm/limits removed" test ! -e $CG/berth-vm/limits

# pids.max stops a fork bomb: the cgroup never holds more than 20 tasks, forks fail, and
# delete --force kills every process in it.
b=$(bundle bomb)
expect_ok bomb_create berth create -b "$b" vm-bomb
expect_ok bomb_start berth start vm-bomb
sleep 3
expect_true bomb_limited "pids.current $(cat $CG/berth-vm/bomb/pids.current) <= 20" \
    test "$(cat $CG/berth-vm/bomb/pids.current)" -le 20
expect_true bomb_refused "pids.events: $(cat $CG/berth-vm/bomb/pids.events)" \
    test "$(awk '/^max/ {print $2}' $CG/berth-vm/bomb/pids.events)" -gt 0
expect_ok bomb_delete berth delete --force vm-bomb
expect_true bomb_cgroup_removed "$CG/berth-vm/bomb removed" test ! -e $CG/berth-vm/bomb

# memory.max: a process that touches more than the limit is OOM-killed inside its cgroup.
b=$(bundle hog)
out=$(berth run -b "$b" vm-hog 2>&1)
expect hog_killed 137 "$?" "$out"

# a cgroup namespace with a cgroup mount shows the container's own cgroup as the root.
b=$(bundle nsmount)
out=$(berth run -b "$b" vm-nsmount 2>&1)
expect nsmount_exit 0 "$?" "$out"
expect nsmount_self "cgroup 0::/" "$(echo "$out" | grep '^cgroup ')"
expect nsmount_memory_max "memory.max 67108864" "$(echo "$out" | grep '^memory.max ')"
expect_true berth_vm_parent_empty "no cgroup left under $CG/berth-vm" \
    test -z "$(find $CG/berth-vm -mindepth 1 -type d 2>/dev/null)"
