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
