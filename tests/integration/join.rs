//! Namespaces joined by path: the fast path (setns after the clone) and the two-stage path
//! (pid namespace joined, or a new user namespace beside joined ones).

use std::fs;

use serde_json::json;

use crate::harness::{chown_tree, Config, TestEnv};

/// A running container whose namespaces others can join; returns its init pid.
fn target(env: &TestEnv) -> i32 {
    let id = env.id("target");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    env.start(&id);
    env.pid_of(&id)
}

fn ns_link(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap().display().to_string()
}

/// Runs `script` in a container from `cfg` that joins namespace `kind` (config name) of
/// `pid`; `owner` chowns the rootfs first (for a user namespace). Returns stdout lines.
fn run_joined(
    env: &TestEnv,
    cfg: Config,
    kind: &str,
    pid: i32,
    owner: Option<u32>,
    script: &str,
) -> Vec<String> {
    let proc_name = if kind == "network" { "net" } else { kind };
    let mut cfg = cfg.args(&["sh", "-c", script]);
    let namespaces = cfg.0["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != kind);
    namespaces.push(json!({ "type": kind, "path": format!("/proc/{pid}/ns/{proc_name}") }));
    let bundle = env.bundle(&cfg);
    if let Some(id) = owner {
        chown_tree(&bundle.join("rootfs"), id, id);
    }
    let id = env.id("joiner");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn joins_network_namespace_by_path() {
    let env = TestEnv::new("joinnet");
    let pid = target(&env);
    let out =
        run_joined(&env, Config::new(&[]), "network", pid, None, "readlink /proc/self/ns/net");
    assert_eq!(out, [ns_link(pid, "net")]);
    assert_ne!(out[0], ns_link(std::process::id() as i32, "net"));
}

#[test]
fn joins_pid_namespace_by_path_through_two_stages() {
    let env = TestEnv::new("joinpid");
    let pid = target(&env);
    let script = "readlink /proc/self/ns/pid; echo $$; cat /proc/1/comm";
    let out = run_joined(&env, Config::new(&[]), "pid", pid, None, script);
    assert_eq!(out[0], ns_link(pid, "pid"), "{out:?}");
    assert_ne!(out[1], "1", "the joiner is not the namespace's init: {out:?}");
    assert_eq!(out[2], "sleep", "pid 1 is the target's init: {out:?}");
}

#[test]
fn new_user_namespace_beside_a_joined_network_namespace() {
    let env = TestEnv::new("joinuser");
    let pid = target(&env);
    let cfg = Config::new(&[]).user_namespace(100000, 65536);
    let script = "readlink /proc/self/ns/net; cat /proc/self/uid_map; id -u";
    let out = run_joined(&env, cfg, "network", pid, Some(100000), script);
    assert_eq!(out[0], ns_link(pid, "net"), "{out:?}");
    assert_eq!(out[1].split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"], "{out:?}");
    assert_eq!(out[2], "0", "{out:?}");
}
