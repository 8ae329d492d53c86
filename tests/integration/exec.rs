//! `exec`: a second process in a running container — its namespaces, exit status, flags,
//! process.json, detach + pid-file, errors, and no descriptor leaking in.

use std::fs;

use serde_json::json;

use crate::harness::{chown_tree, wait_for, Config, TestEnv};

/// A running `sleep` container; its id and init pid.
fn running(env: &TestEnv, cfg: Config) -> (String, i32) {
    let id = env.id("x");
    env.create(&id, &env.bundle(&cfg.args(&["sleep", "60"])));
    env.start(&id);
    let pid = env.pid_of(&id);
    (id, pid)
}

fn ns_links(pid: &str) -> Vec<String> {
    ["user", "mnt", "uts", "ipc", "pid", "net", "cgroup"]
        .iter()
        .map(|k| fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap().display().to_string())
        .collect()
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let env = TestEnv::new("execns");
    let (id, pid) = running(&env, Config::new(&[]));
    let script = "for k in user mnt uts ipc pid net cgroup; do readlink /proc/self/ns/$k; done";
    let out = env.berth(&["exec", &id, "sh", "-c", script]);
    out.ok();
    let inside: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    assert_eq!(inside, ns_links(&pid.to_string()));
    assert_ne!(inside, ns_links("self"), "the exec must not stay in the host's namespaces");
}

#[test]
fn exec_in_a_user_namespace_is_the_mapped_root() {
    let env = TestEnv::new("execuser");
    let cfg = Config::new(&[]).user_namespace(100000, 65536).args(&["sleep", "60"]);
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("x");
    env.create(&id, &bundle);
    env.start(&id);
    let out = env.berth(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out:#?}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
}

#[test]
fn exec_returns_the_exit_status() {
    let env = TestEnv::new("execcode");
    let (id, _) = running(&env, Config::new(&[]));
    assert_eq!(env.berth(&["exec", &id, "sh", "-c", "exit 7"]).code(), 7);
    assert_eq!(env.berth(&["exec", &id, "sh", "-c", "kill -9 $$"]).code(), 137);
    assert_eq!(env.berth(&["exec", &id, "true"]).code(), 0);
}

#[test]
fn exec_flags_set_env_cwd_user_and_groups() {
    let env = TestEnv::new("execflags");
    let (id, _) = running(&env, Config::new(&[]).env("FROM_CONFIG=yes"));
    let script = "echo $FROM_CONFIG $EXTRA; pwd; id -u; id -g; id -G";
    let out = env.berth(&[
        "exec",
        "--env",
        "EXTRA=flag",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        "--additional-gids",
        "5",
        &id,
        "sh",
        "-c",
        script,
    ]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["yes flag", "/tmp", "1000", "1000", "1000 5"], "{out:#?}");
}

#[test]
fn exec_with_a_process_file() {
    let env = TestEnv::new("execprocess");
    let (id, _) = running(&env, Config::new(&[]));
    let process = json!({
        "terminal": false,
        "user": { "uid": 65534, "gid": 65534 },
        "args": ["sh", "-c", "echo $MARK; id -u; pwd"],
        "env": ["PATH=/bin", "MARK=from-process-json"],
        "cwd": "/dev"
    });
    let file = env.dir.join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let out = env.berth(&["exec", "--process", file.to_str().unwrap(), &id]);
    out.ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["from-process-json", "65534", "/dev"]);

    fs::write(&file, json!({ "args": "sh", "cwd": "/" }).to_string()).unwrap();
    let bad = env.berth(&["exec", "--process", file.to_str().unwrap(), &id]);
    bad.fails_with_one_line();
    assert!(bad.stderr.contains("process.json"), "{bad:#?}");
}

#[test]
fn exec_detached_writes_the_pid_file() {
    let env = TestEnv::new("execdetach");
    let (id, init) = running(&env, Config::new(&[]));
    let pid_file = env.dir.join("exec.pid");
    let out = env.berth(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "30",
    ]);
    out.ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_ne!(pid, init);
    env.note_pid(pid);
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    let ns = |p: i32| fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    assert_eq!(ns(pid), ns(init));
    // Killing the init ends every process of its pid namespace, the exec included.
    env.kill(&id, Some("KILL"));
    assert!(wait_for(std::time::Duration::from_secs(5), || !std::path::Path::new(&format!(
        "/proc/{pid}/comm"
    ))
    .exists()
        || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))));
}

#[test]
fn exec_errors_are_one_line() {
    let env = TestEnv::new("execerr");
    let (id, _) = running(&env, Config::new(&[]));
    let missing = env.berth(&["exec", &id, "no-such-program"]);
    missing.fails_with_one_line();
    assert!(missing.stderr.contains("executable file not found in $PATH"), "{missing:#?}");
    env.berth(&["exec", "no-such-container", "true"]).fails_with_one_line();
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    let stopped = env.berth(&["exec", &id, "true"]);
    stopped.fails_with_one_line();
    assert!(stopped.stderr.contains("not running"), "{stopped:#?}");
}

#[test]
fn exec_sees_no_runtime_descriptors() {
    let env = TestEnv::new("execfds");
    let (id, _) = running(&env, Config::new(&[]));
    let out = env.berth(&["exec", &id, "ls", "/proc/self/fd"]);
    out.ok();
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    // 0-2 and the directory ls itself opened.
    assert_eq!(fds, ["0", "1", "2", "3"], "{out:#?}");
}

#[test]
fn exec_gets_the_config_capabilities_plus_cap_flags() {
    let env = TestEnv::new("execcaps");
    let kill_only = json!({
        "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
        "inheritable": [], "ambient": []
    });
    let (id, _) = running(&env, Config::new(&[]).set("/process/capabilities", kill_only));
    let eff = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&id, "grep", "CapEff", "/proc/self/status"]);
        let out = env.berth(&args);
        out.ok();
        u64::from_str_radix(out.stdout.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    const KILL: u64 = 1 << 5;
    const NET_ADMIN: u64 = 1 << 12;
    assert_eq!(eff(&[]), KILL);
    assert_eq!(eff(&["--cap", "CAP_NET_ADMIN"]), KILL | NET_ADMIN);
}
