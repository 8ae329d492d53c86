# berth on a pure cgroup v2 host: run, the create/start/state/kill/delete lifecycle, a user
# namespace, a cgroup namespace with a cgroup mount, and the overlay module loaded by /init.
# Bundles: run, sleeper, userns, cgroupns.

# run: pid 1 of its pid namespace, the configured hostname, exit code passed through.
b=$(bundle run)
out=$(berth run -b "$b" vm-run 2>&1)
expect run_exit 0 "$?" "$out"
expect run_pid "pid 1" "$(echo "$out" | grep '^pid ')"
expect run_hostname "hostname berth-vm-test" "$(echo "$out" | grep '^hostname ')"
expect run_cleaned "" "$(ls "$BERTH_ROOT")"

# lifecycle: create → created, start → running, kill → stopped, delete → gone.
b=$(bundle sleeper)
expect_ok create berth create -b "$b" vm-life
expect create_status created "$(status vm-life)"
pid=$(berth state vm-life | json_field pid)
expect_true create_pid "pid $pid" kill -0 "$pid"
expect_ok start berth start vm-life
expect start_status running "$(status vm-life)"
expect start_args "sleep1000" "$(tr -d '\0' < "/proc/$pid/cmdline")"
expect_ok kill berth kill vm-life KILL
expect_true kill_stopped "stopped" wait_status vm-life stopped
expect_ok delete berth delete vm-life
expect_true delete_gone "state fails after delete" eval '! berth state vm-life >/dev/null 2>&1'
expect delete_cleaned "" "$(ls "$BERTH_ROOT")"

# user namespace: root inside, host uid 100000 outside.
b=$(bundle userns)
chown -hR 100000:100000 "$b/rootfs"
expect_ok userns_create berth create -b "$b" vm-userns
pid=$(berth state vm-userns | json_field pid)
expect userns_host_uid 100000 "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
expect userns_map "0 100000 65536" "$(awk '{print $1, $2, $3}' "/proc/$pid/uid_map")"
expect_ok userns_start berth start vm-userns
expect_true userns_stopped "stopped" wait_status vm-userns stopped
expect userns_output "uid 0" "$(cat "$b/rootfs/tmp/out" 2>&1)"
expect_ok userns_delete berth delete vm-userns
expect userns_cleaned "" "$(ls "$BERTH_ROOT")"

# cgroup namespace and a cgroup mount: on a pure v2 host the container sees cgroup2 at its root.
b=$(bundle cgroupns)
out=$(berth run -b "$b" vm-cgns 2>&1)
expect cgroupns_exit 0 "$?" "$out"
expect cgroupns_fstype "fstype 63677270" "$(echo "$out" | grep '^fstype ')"
expect cgroupns_self "cgroup 0::/" "$(echo "$out" | grep '^cgroup ')"

# A module the test asked for (Vm::module) was loaded from the fetched kernel package.
expect_true module_overlay "overlay in /proc/filesystems" grep -qw overlay /proc/filesystems
