//! runc CLI compatibility: flags and behaviours that callers (containerd, CRI-O, conmon,
//! go-runc) rely on, each checked by its effect — startContainer hook environment, exec into
//! a paused container, real-time and zero signals, one-line `events` records, `run --keep`,
//! `run --no-subreaper`, `exec --cgroup`, the `list` OWNER column and `--criu`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{reference_runc, wait_for, Config, TestEnv};

/// A created and started container running `cfg`; its id.
fn started(env: &TestEnv, cfg: &Config) -> String {
    let id = env.id("c");
    env.create(&id, &env.bundle(cfg));
    env.start(&id);
    id
}

/// Waits (at most 10 s) for `path` to exist.
fn appears(path: &Path) -> bool {
    wait_for(Duration::from_secs(10), || path.exists())
}

#[test]
fn a_start_container_hook_without_env_gets_the_process_env() {
    let env = TestEnv::new("clihookenv");
    let probe = env.probe_dir();
    // Runs inside the container (after pivot_root): the probe dir is /probe there.
    let hooks = json!({ "startContainer": [
        { "path": "/bin/sh", "args": ["sh", "-c", "echo \"$MARK:$PATH\" > /probe/hook-env"] },
        { "path": "/bin/sh", "args": ["sh", "-c", "echo \"$MARK:$OWN\" > /probe/own-env"],
          "env": ["OWN=hook"] }
    ]});
    let cfg = Config::new(&["true"]).env("MARK=from-process").probe(&probe).set("/hooks", hooks);
    let id = started(&env, &cfg);
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    let read = |name: &str| fs::read_to_string(probe.join(name)).unwrap().trim().to_string();
    assert_eq!(read("hook-env"), "from-process:/bin:/usr/bin:/sbin:/usr/sbin");
    assert_eq!(read("own-env"), ":hook", "a hook's own env is its whole environment");
}

/// A paused `sleep` container; its id.
fn paused(env: &TestEnv) -> String {
    let id = started(env, &Config::new(&["sleep", "60"]));
    env.berth(&["pause", &id]).ok();
    env.wait_status(&id, "paused");
    id
}

#[test]
fn exec_into_a_paused_container_is_refused_as_runc_does() {
    let env = TestEnv::new("cliexecpaused");
    let id = paused(&env);
    let out = env.berth(&["exec", &id, "true"]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("cannot exec in a paused container"), "{out:#?}");
    env.berth(&["resume", &id]).ok();
    env.berth(&["exec", &id, "true"]).ok();
}

#[test]
fn exec_ignore_paused_runs_once_the_container_resumes() {
    let env = TestEnv::new("cliexecignore");
    let id = paused(&env);
    let exec = env.spawn(&["exec", "--ignore-paused", &id, "sh", "-c", "echo resumed"]);
    // The exec's process joins the frozen cgroup: the container has two processes now.
    let two = wait_for(Duration::from_secs(10), || {
        env.berth(&["ps", "--format", "json", &id]).stdout.matches(',').count() == 1
    });
    assert!(two, "the exec's process never joined the container");
    assert_eq!(exec.stdout_so_far(), "", "nothing may run while the container is paused");
    env.berth(&["resume", &id]).ok();
    let out = exec.wait();
    out.ok();
    assert_eq!(out.stdout.trim(), "resumed");
}

#[test]
fn exec_ignore_paused_ends_on_sigterm_while_frozen() {
    let env = TestEnv::new("cliexecterm");
    let id = paused(&env);
    let exec = env.spawn(&["exec", "--ignore-paused", &id, "true"]);
    let two = wait_for(Duration::from_secs(10), || {
        env.berth(&["ps", "--format", "json", &id]).stdout.matches(',').count() == 1
    });
    assert!(two, "the exec's process never joined the container");
    // SAFETY: kill(2) on the pid of the child this test spawned.
    unsafe { libc::kill(exec.pid() as i32, libc::SIGTERM) };
    let out = exec.wait();
    assert!(!out.status.success(), "{out:#?}");
    env.berth(&["resume", &id]).ok();
}

#[test]
fn kill_all_delivers_a_real_time_signal() {
    let env = TestEnv::new("clikillrt");
    let probe = env.probe_dir();
    // 37 is SIGRTMIN+3 with glibc (systemd's "halt"); the shell traps it by number.
    let script = "trap 'echo got > /probe/rt; exit 0' 37; touch /probe/ready; \
                  while :; do sleep 1 & wait $!; done";
    let id = started(&env, &Config::sh(script).probe(&probe));
    assert!(appears(&probe.join("ready")));
    env.berth(&["kill", "--all", &id, "37"]).ok();
    assert!(appears(&probe.join("rt")), "signal 37 never reached the container");
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

#[test]
fn kill_signal_zero_checks_that_the_container_is_alive() {
    let env = TestEnv::new("clikillzero");
    let id = started(&env, &Config::new(&["sleep", "60"]));
    env.berth(&["kill", &id, "0"]).ok();
    assert_eq!(env.status(&id), "running", "signal 0 must not hurt the container");
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    assert_ne!(env.berth(&["kill", &id, "0"]).code(), 0, "a stopped container is not alive");
    env.delete(&id, false);
}

#[test]
fn events_stats_is_one_line_of_json() {
    let env = TestEnv::new("clieventsline");
    let id = started(&env, &Config::new(&["sleep", "60"]));
    let out = env.berth(&["events", "--stats", &id]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "containerd reads one record per line: {:?}", out.stdout);
    let record: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["type"], "stats");
    assert_eq!(record["id"], id.as_str());
    env.delete(&id, true);
}
