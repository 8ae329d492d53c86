//! `--version` and `spec`.

use std::fs;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{bin, bin_name, build_rootfs, reference_runc, TestEnv};

#[test]
fn version_names_program_and_spec() {
    let out = Command::new(bin()).arg("--version").stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().expect("no output");
    let prefix = format!("{} version ", bin_name());
    let version = first.strip_prefix(&prefix).unwrap_or_else(|| panic!("first line {first:?}"));
    if !reference_runc() {
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }
    assert!(text.lines().any(|l| l.starts_with("spec: 1.")), "no spec line: {text}");
}

/// `spec` in `dir` (with `extra` flags), returning the parsed config.json.
fn spec_in(env: &TestEnv, dir: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["spec", "--bundle", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.berth(&args).ok();
    let text = fs::read_to_string(dir.join("config.json")).expect("spec wrote no config.json");
    serde_json::from_str(&text).expect("spec wrote invalid JSON")
}

#[test]
fn spec_output_runs_with_busybox() {
    let env = TestEnv::new("spec");
    let dir = env.dir.join("specbundle");
    build_rootfs(&dir.join("rootfs"));
    let mut cfg = spec_in(&env, &dir, &[]);
    assert!(cfg["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "{cfg}");
    assert_eq!(cfg["root"]["path"], "rootfs");
    cfg["process"]["args"] = json!(["sh", "-c", "echo spec-ok; echo $$"]);
    cfg["process"]["terminal"] = json!(false);
    let cfg = crate::harness::Config(cfg);
    env.write_config(&dir, &cfg);

    let id = env.id("c");
    let out = env.berth(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "spec-ok\n1\n");
}

#[test]
fn spec_refuses_to_overwrite() {
    let env = TestEnv::new("specexists");
    let dir = env.dir.join("specbundle");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.json"), "keep me").unwrap();
    env.berth(&["spec", "--bundle", dir.to_str().unwrap()]).fails_with_one_line();
    assert_eq!(fs::read_to_string(dir.join("config.json")).unwrap(), "keep me");
}

#[test]
fn spec_rootless_maps_the_caller() {
    let env = TestEnv::new("specrootless");
    let dir = env.dir.join("specbundle");
    fs::create_dir_all(&dir).unwrap();
    let cfg = spec_in(&env, &dir, &["--rootless"]);
    let ns = cfg["linux"]["namespaces"].as_array().expect("namespaces");
    assert!(ns.iter().any(|n| n["type"] == "user"), "no user namespace: {cfg}");
    assert!(!ns.iter().any(|n| n["type"] == "network"), "rootless cannot create a netns: {cfg}");
    let euid = unsafe { libc::geteuid() };
    let map = &cfg["linux"]["uidMappings"][0];
    assert_eq!(map["hostID"], euid, "{cfg}");
    assert_eq!(map["containerID"], 0, "{cfg}");
}
