//! The systemd cgroup driver (`--systemd-cgroup`) as far as a host without systemd can show
//! it: the refusals are one line naming the unit (or the flag) and leave nothing behind.
//! The driver itself runs in the systemd guest (tests/vm).

use std::path::Path;

use serde_json::json;

use crate::harness::{Config, TestEnv};

/// Every directory a unit `/<slice path>/<unit>` would have, in every hierarchy.
fn unit_dirs(rel: &str) -> Vec<std::path::PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = vec![base.join(rel)];
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        out.push(e.path().join(rel));
    }
    out
}

#[test]
fn without_systemd_the_unit_is_named_in_one_line() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs on this host");
        return;
    }
    let env = TestEnv::new("sdnone");
    let id = env.id("c");
    let cfg = Config::sh("true")
        .set("/linux/cgroupsPath", json!(format!("system.slice:berth-test:{id}")));
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["--systemd-cgroup", "create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    let unit = format!("berth-test-{id}.scope");
    assert!(out.stderr.contains(&unit), "{}", out.stderr);
    assert!(out.stderr.contains("systemd is not running"), "{}", out.stderr);
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
    for d in unit_dirs(&format!("system.slice/{unit}")) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn default_unit_is_a_berth_scope_in_system_slice() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs on this host");
        return;
    }
    let env = TestEnv::new("sddefault");
    let id = env.id("c");
    // The harness places containers under /berth-test; an empty path is "no path".
    let bundle = env.bundle(&Config::sh("true").set("/linux/cgroupsPath", json!("")));
    let out = env.berth(&["--systemd-cgroup", "run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains(&format!("berth-{id}.scope")), "{}", out.stderr);
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

#[test]
fn systemd_path_without_the_flag_names_the_flag() {
    let env = TestEnv::new("sdnoflag");
    let id = env.id("c");
    let path = format!("berth-test.slice:berth:{id}");
    let bundle = env.bundle(&Config::sh("true").set("/linux/cgroupsPath", json!(path)));
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    for word in ["linux.cgroupsPath", "--systemd-cgroup", &path] {
        assert!(out.stderr.contains(word), "{word}: {}", out.stderr);
    }
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

/// The bundles of tests/vm/drivers/systemd_berth.sh.
fn guest_bundles() -> Vec<(&'static str, Config)> {
    let path = |cfg: Config, p: &str| cfg.set("/linux/cgroupsPath", json!(p));
    let sleeper = || Config::new(&["sleep", "1000"]);
    let anno = path(sleeper(), "berthtest.slice:berth:anno")
        .annotation("org.systemd.property.TimeoutStopUSec", "uint64 123456789")
        .annotation("org.systemd.property.CollectMode", "'inactive-or-failed'")
        .set(
            "/linux/resources",
            json!({ "devices": [{ "allow": false, "access": "rwm" }], "cpu": { "cpus": "0" } }),
        );
    let reuse = path(sleeper(), "berthtest.slice:berth:anno");
    let fail = path(sleeper(), ":berth:fail")
        .set("/linux/sysctl", json!({ "net.ipv4.berth_nonexistent": "1" }));
    let badprop = path(sleeper(), ":berth:badprop")
        .annotation("org.systemd.property.BerthNoSuchProperty", "true");
    let slice = path(sleeper(), ":berth:berthtest-s.slice");
    // Without a cgroup namespace the process sees where systemd put it.
    let own = "if grep -q name=systemd /proc/self/cgroup; then \
               sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup; \
               else sed -n 's/^0:://p' /proc/self/cgroup; fi";
    let run = path(Config::sh(own), "").without_namespace("cgroup");
    vec![
        ("anno", anno),
        ("reuse", reuse),
        ("fail", fail),
        ("badprop", badprop),
        ("slice", slice),
        ("run", run),
    ]
}

/// Boots the systemd guest (hybrid cgroups when `hybrid`) with berth's own driver cases.
fn guest(hybrid: bool) -> Option<crate::vm::VmRun> {
    let mut vm = crate::vm::Vm::systemd("systemd_berth");
    if hybrid {
        vm = vm.kernel_arg("systemd.unified_cgroup_hierarchy=0");
    }
    for (name, cfg) in guest_bundles() {
        vm = vm.bundle(name, cfg);
    }
    vm.run()
}

const GUEST_FACTS: &[&str] = &[
    "sd_pid1",
    "sd_bus",
    "sdb_anno_create",
    "sdb_anno_active",
    "sdb_anno_timeout",
    "sdb_anno_collect",
    "sdb_anno_description",
    "sdb_anno_slice",
    "sdb_anno_policy",
    "sdb_anno_device_allow",
    "sdb_anno_cpus",
    "sdb_anno_in_unit",
    "sdb_reuse_refused",
    "sdb_reuse_no_state",
    "sdb_reuse_first_active",
    "sdb_reuse_first_alive",
    "sdb_anno_delete",
    "sdb_anno_unit_gone",
    "sdb_anno_cgroup_gone",
    "sdb_fail_refused",
    "sdb_fail_unit_gone",
    "sdb_fail_cgroup_gone",
    "sdb_fail_no_state",
    "sdb_badprop_refused",
    "sdb_badprop_unit_gone",
    "sdb_badprop_cgroup_gone",
    "sdb_badprop_no_state",
    "sdb_slice_create",
    "sdb_slice_cgroup",
    "sdb_slice_in_unit",
    "sdb_slice_delete",
    "sdb_slice_unit_gone",
    "sdb_slice_cgroup_gone",
    "sdb_slice_again",
    "sdb_slice_again_delete",
    "sdb_run_cgroup",
    "sdb_run_unit_gone",
    "sdb_run_cgroup_gone",
];

/// berth's own cases under systemd with unified cgroups.
#[test]
fn vm_systemd_v2_berth_cases() {
    let Some(run) = guest(false) else { return };
    run.assert_ok(&[GUEST_FACTS, &["sd_cgroup_unified"]].concat());
}

/// berth's own cases under systemd with hybrid cgroups (v1 controllers).
#[test]
fn vm_systemd_hybrid_berth_cases() {
    let Some(run) = guest(true) else { return };
    run.assert_ok(&[GUEST_FACTS, &["sd_cgroup_hybrid"]].concat());
}
