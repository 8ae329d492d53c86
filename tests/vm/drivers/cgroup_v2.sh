# berth's cgroup v2 support on a pure v2 host: placement at cgroupsPath, limits written and read
# back, update, events --stats, exec and kill --all through the cgroup, pids.max containing a
# fork bomb, memory.max OOM-killing, the device program, pause/resume through cgroup.freeze, and
# the cgroup removed on delete. Bundles: limits, bomb, hog, devdeny, nsmount.
CG=/sys/fs/cgroup

# placement and limits: the init sits in its cgroupsPath with the configured limits.
b=$(bundle limits)
expect_ok limits_create berth create -b "$b" vm-limits
pid=$(berth state vm-limits | json_field pid)
expect limits_placement "0::/berth-vm/limits" "$(cat "/proc/$pid/cgroup")"
expect limits_memory_max 67108864 "$(cat $CG/berth-vm/limits/memory.max)"
expect limits_pids_max 20 "$(cat $CG/berth-vm/limits/pids.max)"
expect limits_cpu_max "50000 100000" "$(cat $CG/berth-vm/limits/cpu.max)"

expect_ok start berth start vm-limits

# update, events --stats, exec and kill --all on the running container, through its v2 files.
expect_ok update berth update --pids-limit 30 vm-limits
expect update_pids_max 30 "$(cat $CG/berth-vm/limits/pids.max)"
stats=$(berth events --stats vm-limits 2>&1)
expect_true events_stats "$stats" sh -c 'echo "$1" | grep -q "\"type\": *\"stats\"" && echo "$1" | grep -q "\"pids\""' _ "$stats"
expect exec_cgroup "0::/berth-vm/limits" "$(berth exec vm-limits cat /proc/self/cgroup)"
expect_ok exec_detached berth exec --detach vm-limits sleep 1000
expect_true kill_all_before "two processes in the cgroup: $(cat $CG/berth-vm/limits/cgroup.procs | tr '\n' ' ')" \
    test "$(wc -l < $CG/berth-vm/limits/cgroup.procs)" -eq 2
expect_ok kill_all berth kill --all vm-limits KILL
wait_status vm-limits stopped
sleep 0.2
expect kill_all_empty "" "$(cat $CG/berth-vm/limits/cgroup.procs)"
expect_ok limits_delete_stopped berth delete vm-limits
expect_ok limits_recreate berth create -b "$b" vm-limits
expect_ok limits_restart berth start vm-limits

# pause/resume: cgroup.freeze set and reported frozen, state paused, then thawed and running.
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

# devices: deny-all plus runc's default allow list, as an eBPF program: /dev/null opens,
# the host's /dev/kmsg bound in (not allowed) does not.
b=$(bundle devdeny)
out=$(berth run -b "$b" vm-devdeny 2>&1)
expect devices_null_allowed "null ok" "$(echo "$out" | grep '^null ')"
expect_true devices_kmsg_denied "$out" sh -c 'echo "$1" | grep -q "Operation not permitted"' _ "$out"

# a cgroup namespace with a cgroup mount shows the container's own cgroup as the root.
b=$(bundle nsmount)
out=$(berth run -b "$b" vm-nsmount 2>&1)
expect nsmount_exit 0 "$?" "$out"
expect nsmount_self "cgroup 0::/" "$(echo "$out" | grep '^cgroup ')"
expect nsmount_memory_max "memory.max 67108864" "$(echo "$out" | grep '^memory.max ')"
expect_true berth_vm_parent_empty "no cgroup left under $CG/berth-vm" \
    test -z "$(find $CG/berth-vm -mindepth 1 -type d 2>/dev/null)"
