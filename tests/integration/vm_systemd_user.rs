//! `--systemd-cgroup` as an unprivileged user (rootless), in the systemd guest of
//! vm_systemd.rs booted with unified cgroups: tests/vm/drivers/systemd_user.sh creates a user
//! with lingering enabled (so user@UID.service and its user bus run, and systemd delegates
//! the user's cgroup subtree) and runs each runtime as that user with `--rootless true
//! --systemd-cgroup`. The scope must be in the user manager's user.slice while the container
//! runs, with the memory and pids limits in its delegated cgroup and seen from inside,
//! reached by update, pause, resume and ps, and gone after delete. Debian's runc 1.1.5 in
//! the same boot is the reference: berth's facts must equal its (`same_*`).

use serde_json::json;

use crate::harness::Config;
use crate::vm::{Vm, VmRun};

/// What the driver expects: 64 MiB of memory, 64 pids.
fn resources() -> serde_json::Value {
    json!({ "memory": { "limit": 67108864 }, "pids": { "limit": 64 } })
}

/// The bundle `<runtime>`: rootless (a user namespace mapping only the user's own ids, no
/// network namespace, the host's /sys bound), `linux.cgroupsPath` `:sdu:sdu-<runtime>` (so the default slice, which
/// is user.slice in a user's manager), and a process that writes the limits it sees in its
/// own cgroup to /tmp/seen before it sleeps.
fn bundle(runtime: &str, uid: u32) -> Config {
    let probe = "p=$(sed -n 's/^0:://p' /proc/self/cgroup); \
        echo \"limits $(cat /sys/fs/cgroup$p/memory.max) $(cat /sys/fs/cgroup$p/pids.max)\" \
        > /tmp/seen; exec sleep 1000";
    let mut cfg = Config::new(&["sh", "-c", probe]).without_namespace("network");
    // /sys as `runc spec --rootless` has it: without a network namespace of its own the
    // user may not mount sysfs, and runc 1.1.5 does not fall back to a bind as berth does.
    for mount in cfg.0["mounts"].as_array_mut().unwrap() {
        if mount["destination"] == "/sys" {
            *mount = json!({ "destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        }
    }
    let linux = &mut cfg.0["linux"];
    linux["namespaces"].as_array_mut().unwrap().push(json!({ "type": "user" }));
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["cgroupsPath"] = json!(format!(":sdu:sdu-{runtime}"));
    linux["resources"] = resources();
    cfg
}

/// The uid the driver gives its user.
const UID: u32 = 1500;

/// Boots the guest (unified cgroups) running the driver with `runtimes` in order.
fn run(runtimes: &[&str]) -> Option<VmRun> {
    let mut vm =
        Vm::systemd("systemd_user").kernel_arg(&format!("berth.runtimes={}", runtimes.join(",")));
    for rt in runtimes {
        vm = vm.bundle(rt, bundle(rt, UID));
    }
    if runtimes.contains(&"berth") {
        vm = vm.bundle("nobus", bundle("nobus", UID));
    }
    vm.run()
}

/// The facts of one runtime's container.
fn facts(rt: &str) -> Vec<String> {
    const FACTS: &str = "create unit_active unit_slice cgroup init_in_scope memory_max pids_max \
        owner start inside update update_file pause paused resume resumed ps kill delete \
        unit_gone cgroup_gone";
    FACTS.split_whitespace().map(|f| format!("{rt}_{f}")).collect()
}

/// The guest's own facts and the user manager's.
fn host_facts() -> Vec<String> {
    let names = ["sd_pid1", "sd_bus", "sd_cgroup_unified", "sdu_user_manager", "sdu_delegated"];
    names.iter().map(|s| s.to_string()).chain(["sdu_manager_cgroup".to_string()]).collect()
}

/// runc alone (`--rootless true --systemd-cgroup` as the user): the driver's expectations.
#[test]
#[ignore = "the berth test asserts runc's facts in the same boot; run alone to check the driver's expectations"]
fn vm_systemd_user_runc_reference() {
    let Some(run) = run(&["runc"]) else { return };
    run.assert_ok(&[host_facts(), facts("runc")].concat());
}

/// berth as the user with `--systemd-cgroup`: the scope in the user manager, the limits in
/// its delegated cgroup, the same as runc's; no user bus is one line naming it.
#[test]
fn vm_systemd_user_berth() {
    let Some(run) = run(&["runc", "berth"]) else { return };
    let same = ["same_cgroup", "same_files", "same_inside", "same_update_file", "same_unit_gone"];
    let errors = ["sdu_nobus_error", "sdu_nobus_no_state"];
    let all = [
        host_facts(),
        facts("runc"),
        facts("berth"),
        same.iter().chain(&errors).map(|s| s.to_string()).collect(),
    ]
    .concat();
    run.assert_ok(&all);
}
