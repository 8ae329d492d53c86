//! `check` and `create` share one validation entry point: for a config with a problem,
//! `check` lists it (exit 1) worded exactly as `create` refuses the config, and `create`
//! leaves nothing behind. Host problems included: a missing network device and Intel RDT
//! without resctrl were once refused by `create` alone.

use std::fs;

use serde_json::json;

use crate::harness::{Config, TestEnv};

/// Asserts that `check` reports `field` at `pointer` and that `create` fails with that
/// very problem, leaving nothing; returns the problem's text.
#[track_caller]
fn check_and_create_agree(env: &TestEnv, cfg: &Config, pointer: &str, field: &str) -> String {
    env.check_and_create_agree(cfg, Some(pointer), field)
}

#[test]
fn a_missing_net_device_is_named_by_check_as_by_create() {
    let env = TestEnv::new("vnetdev");
    let cfg = Config::new(&["true"]).set("/linux/netDevices", json!({ "berthnosuch9": {} }));
    let problem = check_and_create_agree(
        &env,
        &cfg,
        "/linux/netDevices/berthnosuch9",
        "linux.netDevices.berthnosuch9",
    );
    assert!(problem.ends_with("no such network interface on the host"), "{problem}");
}

#[test]
fn intel_rdt_without_resctrl_is_named_by_check_as_by_create() {
    let env = TestEnv::new("vrdt");
    if fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" - resctrl ") {
        eprintln!("skipped: resctrl is mounted here");
        return;
    }
    let cfg = Config::new(&["true"]).set("/linux/intelRdt", json!({ "closID": "g1" }));
    let problem = check_and_create_agree(&env, &cfg, "/linux/intelRdt", "linux.intelRdt");
    assert!(problem.contains("resctrl is not mounted at /sys/fs/resctrl"), "{problem}");
}

/// The base config with the array element at `ptr` replaced by `v`.
fn with(ptr: &str, v: serde_json::Value) -> Config {
    let mut cfg = Config::new(&["true"]);
    *cfg.0.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr} in config")) = v;
    cfg
}

#[test]
fn spec_and_host_problems_of_each_section_are_named_alike() {
    let env = TestEnv::new("vsections");
    let cases = [
        // process
        (Config::new(&["true"]).set("/process/cwd", json!("rel")), "/process/cwd", "process.cwd"),
        // root + mounts: a bind source that is not there (a host check)
        (
            with(
                "/mounts/5",
                json!({ "destination": "/mnt", "type": "bind",
                        "source": "/nonexistent/berth-src", "options": ["bind"] }),
            ),
            "/mounts/5/source",
            "mounts[5].source",
        ),
        // namespaces: a path that is not a namespace file of its type (a host check)
        (
            with("/linux/namespaces/2", json!({ "type": "ipc", "path": "/proc/self/ns/uts" })),
            "/linux/namespaces/2/path",
            "linux.namespaces[2].path",
        ),
        // hooks: a createRuntime program that does not exist (a host check)
        (
            Config::new(&["true"])
                .set("/hooks", json!({ "createRuntime": [{ "path": "/nonexistent/hook" }] })),
            "/hooks/createRuntime/0/path",
            "hooks.createRuntime[0].path",
        ),
    ];
    for (cfg, pointer, field) in cases {
        check_and_create_agree(&env, &cfg, pointer, field);
    }
}
