//! The systemd cgroup driver on a host that really runs systemd: a qemu (TCG) guest booting
//! systemd as PID 1 from a Debian root image (tests/vm/systemd, built by `tests/vm/build.sh
//! sdroot` with mmdebstrap and cached under `target/vm`). tests/vm/drivers/systemd.sh
//! replays containerd's runc shim (SystemdCgroup = true) and CRI-O/conmon
//! (cgroup_manager = systemd) argv for argv, and checks the scope with `systemctl show` and
//! the cgroup files. Debian's runc in the guest is the reference: its facts are asserted
//! here, and berth's must be the same (same_* facts compare the cgroup files and unit
//! properties of the two for one config). Two boots each: cgroup v2 (systemd's default,
//! unified) and v1 hybrid (`systemd.unified_cgroup_hierarchy=0`).

use serde_json::json;

use crate::harness::Config;
use crate::vm::{Vm, VmRun};

/// The pod's uid as kubelet spells it in slice names ('-' becomes '_').
const POD: &str = "0b2e5d6c_1f4a_4c43_9d1b_7e2a52e0f0a1";

/// What both engines' bundles set: memory 64 MiB with 32 MiB reserved, cpu shares 512 with a
/// 50 ms quota per 100 ms on cpu 0, 64 pids (the driver expects exactly these), and the device
/// rule they always send, deny all (runtimes add their default allow list).
fn resources() -> serde_json::Value {
    json!({
        "devices": [{ "allow": false, "access": "rwm" }],
        "memory": { "limit": 67108864, "reservation": 33554432 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000, "cpus": "0" },
        "pids": { "limit": 64 }
    })
}

/// The bundle `<engine>-<runtime>`: a sleeper whose `linux.cgroupsPath` is what the engine
/// sends with the systemd driver, `slice:prefix:name`. `sys` has an empty slice (so
/// system.slice) and a unit property as an `org.systemd.property.` annotation.
fn bundle(engine: &str, runtime: &str) -> (String, Config) {
    let id = format!("{engine}-{runtime}");
    let path = match engine {
        "ctrd" => format!("kubepods-besteffort-pod{POD}.slice:cri-containerd:{id}"),
        "crio" => format!("kubepods-burstable-pod{POD}.slice:crio:{id}"),
        _ => format!(":cri-containerd:{id}"),
    };
    let mut cfg = Config::new(&["sleep", "1000"]);
    cfg.0["linux"]["cgroupsPath"] = json!(path);
    cfg.0["linux"]["resources"] = resources();
    if engine == "sys" {
        cfg = cfg.annotation("org.systemd.property.CollectMode", "'inactive-or-failed'");
    }
    (id, cfg)
}

/// The bundles `run-<runtime>` (a process that exits at once, for a foreground `run`) and
/// `fail-<runtime>` (an init that fails, on a sysctl the kernel lacks, after the unit
/// exists), both in system.slice.
fn lifecycle_bundles(runtime: &str) -> Vec<(String, Config)> {
    let path = |id: &str| json!(format!(":cri-containerd:{id}"));
    let run_id = format!("run-{runtime}");
    let mut run = Config::new(&["true"]);
    run.0["linux"]["cgroupsPath"] = path(&run_id);
    let fail_id = format!("fail-{runtime}");
    let mut fail = Config::new(&["sleep", "1000"]);
    fail.0["linux"]["cgroupsPath"] = path(&fail_id);
    fail.0["linux"]["sysctl"] = json!({ "net.ipv4.berth_nonexistent": "1" });
    vec![(run_id, run), (fail_id, fail)]
}

/// Boots the systemd guest (hybrid cgroups when `hybrid`) running the driver with `runtimes`
/// in order; `None` when VM tests are skipped here.
fn run(runtimes: &[&str], hybrid: bool) -> Option<VmRun> {
    let mut vm =
        Vm::systemd("systemd").kernel_arg(&format!("berth.runtimes={}", runtimes.join(",")));
    if hybrid {
        vm = vm.kernel_arg("systemd.unified_cgroup_hierarchy=0");
    }
    for rt in runtimes {
        for engine in ["ctrd", "crio", "sys"] {
            let (name, cfg) = bundle(engine, rt);
            vm = vm.bundle(&name, cfg);
        }
        for (name, cfg) in lifecycle_bundles(rt) {
            vm = vm.bundle(&name, cfg);
        }
    }
    vm.run()
}

/// The facts the driver reports for one runtime, named `<runtime>_<engine>_<fact>`.
fn facts(rt: &str) -> Vec<String> {
    const CTRD: &str =
        "create unit cgroup props files extra pidfile init_in_scope init_in_procs start \
        state running exec exec_in_scope ps ps_pids update update_props update_files pause paused \
        paused_state paused_status resume resumed stats stats_json stats_pids kill_all \
        kill_all_exec kill_all_init stopped_state stopped delete unit_gone_at_once unit_gone \
        cgroup_gone state_gone";
    const CRIO: &str =
        "create unit cgroup props files extra pidfile init_in_scope init_in_procs start \
        exec exec_in_scope update update_props update_files delete_force killed \
        unit_gone_at_once unit_gone cgroup_gone state_gone";
    const SYS: &str =
        "create unit cgroup annotation delete_force unit_gone_at_once unit_gone cgroup_gone";
    const LIFECYCLE: &str = "run run_unit_gone_at_once run_cgroup_gone run_state_gone \
        fail_refused fail_unit_gone_at_once fail_cgroup_gone fail_state_gone";
    let ctrd = CTRD.split_whitespace().map(|f| format!("{rt}_ctrd_{f}"));
    let crio = CRIO.split_whitespace().map(|f| format!("{rt}_crio_{f}"));
    let sys = SYS.split_whitespace().map(|f| format!("{rt}_sys_{f}"));
    let lifecycle = LIFECYCLE.split_whitespace().map(|f| format!("{rt}_{f}"));
    ctrd.chain(crio).chain(sys).chain(lifecycle).collect()
}

/// The guest's own facts: systemd is PID 1, on the bus, with the cgroup layout asked for.
fn host_facts(hybrid: bool) -> Vec<String> {
    let layout = if hybrid { "sd_cgroup_hybrid" } else { "sd_cgroup_unified" };
    ["sd_pid1", "sd_bus", layout].iter().map(|s| s.to_string()).collect()
}

/// The facts where berth must equal runc (`same_<engine>_<fact>`): the unit, its properties
/// and the cgroup files, before and after update, paused and resumed, and after delete.
fn same_facts() -> Vec<String> {
    const CTRD: &str = "unit cgroup props files extra update_props update_files paused resumed \
        unit_gone_at_once unit_gone";
    const CRIO: &str =
        "unit cgroup props files extra update_props update_files unit_gone_at_once unit_gone";
    const SYS: &str = "unit cgroup annotation unit_gone_at_once unit_gone";
    let ctrd = CTRD.split_whitespace().map(|f| format!("same_ctrd_{f}"));
    let crio = CRIO.split_whitespace().map(|f| format!("same_crio_{f}"));
    let sys = SYS.split_whitespace().map(|f| format!("same_sys_{f}"));
    let lifecycle = ["same_run_unit_gone_at_once", "same_fail_unit_gone_at_once"];
    ctrd.chain(crio).chain(sys).chain(lifecycle.map(String::from)).collect()
}

/// Where Debian's runc 1.1.5 with systemd 252 on hybrid cgroups is wrong itself: the init's
/// devices cgroup is the pod's slice, not the scope (systemd leaves it there), so `ps` and
/// `kill --all`, which read the devices hierarchy, miss the init. Reported, not asserted, for
/// runc; berth must get them right.
const RUNC_HYBRID_DEFECTS: &[&str] = &[
    "runc_ctrd_init_in_scope",
    "runc_crio_init_in_scope",
    "runc_ctrd_ps_pids",
    "runc_ctrd_kill_all_init",
];

/// runc (Debian's, the reference) under systemd with unified cgroups: the argv replay's
/// facts hold, so the driver's expectations are right.
#[test]
#[ignore = "the berth tests assert runc's facts in the same boot; run alone to check the driver's expectations"]
fn vm_systemd_v2_runc_reference() {
    let Some(run) = run(&["runc"], false) else { return };
    run.assert_ok(&[host_facts(false), facts("runc")].concat());
}

/// runc under systemd with hybrid cgroups (v1 controllers, systemd's unified hierarchy); its
/// own defects there (`RUNC_HYBRID_DEFECTS`) are reported, not asserted.
#[test]
#[ignore = "the berth tests assert runc's facts in the same boot; run alone to check the driver's expectations"]
fn vm_systemd_hybrid_runc_reference() {
    let Some(run) = run(&["runc"], true) else { return };
    run.assert_ok_excusing(&[host_facts(true), facts("runc")].concat(), RUNC_HYBRID_DEFECTS);
}

/// berth with `--systemd-cgroup` and unified cgroups: the same facts as runc, the same files.
#[test]
fn vm_systemd_v2_berth() {
    let Some(run) = run(&["runc", "berth"], false) else { return };
    let all = [host_facts(false), facts("runc"), facts("berth"), same_facts()].concat();
    run.assert_ok(&all);
}

/// berth with `--systemd-cgroup` and hybrid cgroups.
#[test]
fn vm_systemd_hybrid_berth() {
    let Some(run) = run(&["runc", "berth"], true) else { return };
    let all = [host_facts(true), facts("runc"), facts("berth"), same_facts()].concat();
    run.assert_ok_excusing(&all, RUNC_HYBRID_DEFECTS);
}
