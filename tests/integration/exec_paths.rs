//! `exec`'s clone paths: into a container with a pid namespace alone the runtime joins that
//! namespace itself and clones the process straight into it; with a time or user namespace
//! the process is still joined and forked by a first stage; without a pid namespace it
//! stays in the host's. Each must leave the process in every namespace of the container.

use std::fs;

use serde_json::json;

use crate::harness::{reference_runc, Config, TestEnv};

/// A running `sleep` container of `cfg`; its id and init pid.
fn running(env: &TestEnv, cfg: Config) -> (String, i32) {
    let id = env.id("x");
    env.create(&id, &env.bundle(&cfg.args(&["sleep", "60"])));
    env.start(&id);
    let pid = env.pid_of(&id);
    (id, pid)
}

/// The namespace links of `pid` ("self" for the caller) for `kinds`.
fn links(pid: &str, kinds: &[&str]) -> Vec<String> {
    kinds
        .iter()
        .map(|k| fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap().display().to_string())
        .collect()
}

/// What `exec` reports from inside: its namespace links for `kinds`, then its pid and its
/// parent's pid as it sees them.
fn exec_facts(env: &TestEnv, id: &str, kinds: &[&str]) -> (Vec<String>, String) {
    let script = format!(
        "for k in {}; do readlink /proc/self/ns/$k; done; echo \"$$ $PPID\"",
        kinds.join(" ")
    );
    let out = env.berth(&["exec", id, "sh", "-c", &script]);
    out.ok();
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    let pids = lines.pop().unwrap_or_default();
    (lines, pids)
}

const KINDS: [&str; 6] = ["mnt", "uts", "ipc", "pid", "net", "cgroup"];

#[test]
fn exec_into_a_pid_namespace_is_born_in_it_again_and_again() {
    let env = TestEnv::new("execpidns");
    let (id, init) = running(&env, Config::new(&[]));
    // Twice: each exec is a new runtime, and the first must not have changed anything the
    // second depends on.
    for _ in 0..2 {
        let (inside, pids) = exec_facts(&env, &id, &KINDS);
        assert_eq!(inside, links(&init.to_string(), &KINDS));
        let (pid, ppid) = pids.split_once(' ').unwrap();
        // Inside the container's pid namespace (the init is 1), its parent outside it.
        assert!(pid.parse::<i32>().unwrap() > 1, "{pids}");
        assert_eq!(ppid, "0", "{pids}");
    }
}

#[test]
fn exec_into_a_container_with_a_time_namespace_joins_it_too() {
    if reference_runc() {
        return; // runc 1.1 knows no time namespace
    }
    let env = TestEnv::new("exectimens");
    let mut cfg = Config::new(&[])
        .set("/linux/timeOffsets", json!({ "boottime": { "secs": 86400, "nanosecs": 0 } }));
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
    let (id, init) = running(&env, cfg);
    let kinds = ["time", "pid", "mnt", "net"];
    let (inside, pids) = exec_facts(&env, &id, &kinds);
    assert_eq!(inside, links(&init.to_string(), &kinds));
    assert!(pids.ends_with(" 0"), "{pids}");
    // The boot-time offset of the container's time namespace applies to the exec'd process.
    let out = env.berth(&["exec", &id, "cat", "/proc/uptime"]);
    out.ok();
    let uptime: f64 = out.stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(uptime >= 86400.0, "{out:#?}");
}

#[test]
fn exec_into_a_container_without_a_pid_namespace_stays_in_the_hosts() {
    let env = TestEnv::new("exechostpid");
    let (id, _) = running(&env, Config::new(&[]).without_namespace("pid"));
    let (inside, pids) = exec_facts(&env, &id, &["pid"]);
    assert_eq!(inside, links("self", &["pid"]));
    let (pid, _) = pids.split_once(' ').unwrap();
    // A host pid: its own /proc entry (the host's /proc is the container's here).
    assert!(pid.parse::<i32>().unwrap() > 1, "{pids}");
}
