//! The runtime's setup of the clone (issue 19): the clone waits for `SetupDone` only when the
//! runtime has work that must come first. With nothing to set up, the init runs ahead of a
//! runtime held (by the fault binary) at the point where it would otherwise still be setting
//! up; with a user namespace it stays blocked there. And what needs the runtime first still
//! gets it: the id maps, oomScoreAdj through a first stage, createRuntime hooks that see the
//! init before it pivots, an `exec` into a user namespace.

use std::fs;
use std::path::Path;
use std::process::Child;

use serde_json::json;

use crate::faults::{assert_nothing_left, fault_processes, spawn_faulty, FAULT_LOCK};
use crate::harness::{chown_tree, reference_runc, wait_for, Config, TestEnv, COMMAND_TIMEOUT};

/// The runtime's point right before it would send `SetupDone` (after the id maps and
/// oomScoreAdj, before the placement).
const HELD_AT: &str = "after the clone";

/// The init steps the fault binary traced to `stderr`, in order.
fn traced_steps(stderr: &Path) -> Vec<String> {
    let text = fs::read_to_string(stderr).unwrap_or_default();
    text.lines().filter_map(|l| l.strip_prefix("berth fault step: ")).map(String::from).collect()
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<i32> {
    let ppid_of = |stat: &str| -> Option<u32> {
        stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
    };
    let pids = fs::read_dir("/proc").unwrap().flatten();
    let pids = pids.filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    pids.filter(|p| {
        fs::read_to_string(format!("/proc/{p}/stat")).ok().and_then(|s| ppid_of(&s)) == Some(pid)
    })
    .collect()
}

/// Whether `pid` sleeps in recvfrom(2), the sync socket's read (its peek at the next
/// message's size).
fn blocked_reading_the_socket(pid: i32) -> bool {
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    syscall.split_whitespace().next() == Some(&libc::SYS_recvfrom.to_string())
}

/// A runtime held at [`HELD_AT`]; killed when dropped, also when an assertion failed (it
/// holds the state dir's lock, which the guard's `delete --force` needs).
struct Held(Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `create` of `bundle` by the fault binary, held at [`HELD_AT`] with every point traced.
fn create_held(env: &TestEnv, bundle: &Path, id: &str) -> (Held, String, std::path::PathBuf) {
    let vars = [("BERTH_FAULT_TRACE", "1"), ("BERTH_FAULT_PAUSE", HELD_AT)];
    let (child, cmdline, _, stderr) =
        spawn_faulty(env, &vars, &["create", "--bundle", bundle.to_str().unwrap(), id]);
    (Held(child), cmdline, stderr)
}

/// Ends the held runtime and removes what it made; asserts nothing is left.
fn release(env: &TestEnv, runtime: Held, id: &str, cgroup: &str) {
    drop(runtime);
    env.delete(id, true);
    assert_nothing_left(env, cgroup, &format!("{id} after its held create"));
}

/// The config of the held tests: `sh -c true` in a cgroup of its own.
fn held_config(cgroup: &str) -> Config {
    Config::sh("true").set("/linux/cgroupsPath", json!(format!("/berth-test/{cgroup}")))
}

/// Nothing to set up (no user namespace, no unit, no oomScoreAdj through a first stage): the
/// init goes through all its steps to `Ready` while the runtime is still held before the
/// point where it used to send `SetupDone`. Waiting for that message, it could not.
#[test]
fn with_nothing_to_set_up_the_init_runs_ahead_of_the_runtime() {
    if reference_runc() {
        return;
    }
    let _serial = FAULT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::new("setupfast");
    let cgroup = env.id("cg");
    // An oomScoreAdj alone does not hold the init: the runtime writes it while the init runs.
    let bundle = env.bundle(&held_config(&cgroup).set("/process/oomScoreAdj", json!(321)));
    let id = env.id("c");
    let (runtime, cmdline, stderr) = create_held(&env, &bundle, &id);
    let ready =
        wait_for(COMMAND_TIMEOUT, || traced_steps(&stderr).iter().any(|s| s == "reporting ready"));
    let err = fs::read_to_string(&stderr).unwrap_or_default();
    assert!(err.contains(&format!("berth fault paused: {HELD_AT}\n")), "{cmdline}: {err}");
    assert!(ready, "{cmdline}: the init did not get to Ready while the runtime was held: {err}");
    let runtime_pid = runtime.0.id();
    let init = children_of(runtime_pid);
    assert_eq!(init.len(), 1, "{cmdline}: one init: {init:?}");
    let oom = fs::read_to_string(format!("/proc/{}/oom_score_adj", init[0])).unwrap();
    assert_eq!(oom.trim(), "321", "written before the runtime's hold point");
    release(&env, runtime, &id, &cgroup);
}

/// A new user namespace: the init must not go on before its maps exist, and it waits for
/// `SetupDone` even once they are written — it is blocked reading the sync socket in its
/// first step while the runtime is held.
#[test]
fn a_new_user_namespace_holds_the_init_until_setup_is_done() {
    if reference_runc() {
        return;
    }
    let _serial = FAULT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::new("setupuserns");
    let cgroup = env.id("cg");
    let bundle = env.bundle(&held_config(&cgroup).user_namespace(100000, 65536));
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("c");
    let (runtime, cmdline, stderr) = create_held(&env, &bundle, &id);
    let runtime_pid = runtime.0.id();
    let mut init = Vec::new();
    let held = wait_for(COMMAND_TIMEOUT, || {
        init = children_of(runtime_pid);
        let steps = traced_steps(&stderr);
        steps.last().is_some_and(|s| s == "waiting for the runtime's setup")
            && init.len() == 1
            && blocked_reading_the_socket(init[0])
    });
    let err = fs::read_to_string(&stderr).unwrap_or_default();
    assert!(err.contains(&format!("berth fault paused: {HELD_AT}\n")), "{cmdline}: {err}");
    assert!(held, "{cmdline}: the init is not waiting in its first step ({init:?}): {err}");
    assert_eq!(traced_steps(&stderr), ["waiting for the runtime's setup"], "{cmdline}");
    let uid_map = fs::read_to_string(format!("/proc/{}/uid_map", init[0])).unwrap();
    assert_eq!(uid_map.split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    release(&env, runtime, &id, &cgroup);
    assert!(fault_processes().is_empty(), "the init left behind");
}

/// The maps reach a user-namespaced container, and an `exec` into it (which joins the user
/// namespace, and has nothing to wait for) runs as its root under the same maps.
#[test]
fn a_user_namespace_container_and_an_exec_into_it_get_their_maps() {
    let env = TestEnv::new("setupmaps");
    let cfg = Config::new(&["sleep", "60"]).user_namespace(100000, 65536);
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let pid = env.pid_of(&id);
    let map = |text: String| text.split_whitespace().map(String::from).collect::<Vec<_>>();
    let want = ["0", "100000", "65536"];
    assert_eq!(map(fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap()), want);
    assert_eq!(map(fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap()), want);
    let out = env.berth(&["exec", &id, "sh", "-c", "cat /proc/self/uid_map; id -u; id -g"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), want, "{out:#?}");
    assert_eq!(&lines[1..], ["0", "0"], "{out:#?}");
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

/// A createRuntime hook runs while the init waits for it, mounts done and not yet pivoted:
/// the init's root is still the host's and it sleeps reading the sync socket.
#[test]
fn a_create_runtime_hook_sees_the_init_before_it_goes_on() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("setuphook");
    let probe = env.probe_dir();
    let d = probe.display();
    let script = format!(
        "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); readlink /proc/$pid/root > {d}/root; \
         cut -d' ' -f1 /proc/$pid/syscall > {d}/syscall"
    );
    let hook = json!([{ "path": "/bin/sh", "args": ["sh", "-c", script] }]);
    let cfg = Config::sh("true").set("/hooks", json!({ "createRuntime": hook }));
    let out = env.berth(&["run", "--bundle", env.bundle(&cfg).to_str().unwrap(), &env.id("c")]);
    out.ok();
    let read = |name: &str| fs::read_to_string(probe.join(name)).unwrap().trim().to_string();
    assert_eq!(read("root"), "/", "the init had pivoted before the hook ran");
    assert_eq!(read("syscall"), libc::SYS_recvfrom.to_string(), "the init was not waiting");
}

/// oomScoreAdj reaches the program on both clone paths: written while a single clone runs on,
/// and before a first stage (time offsets make one) forks the init, which inherits it.
#[test]
fn oom_score_adj_reaches_the_program_on_both_paths() {
    let env = TestEnv::new("setupoom");
    let single = Config::sh("cat /proc/self/oom_score_adj").set("/process/oomScoreAdj", json!(345));
    let mut two_stage = single.clone().set("/process/oomScoreAdj", json!(456));
    two_stage.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
    let two_stage =
        two_stage.set("/linux/timeOffsets", json!({ "monotonic": { "secs": 1, "nanosecs": 0 } }));
    for (cfg, want) in [(single, "345"), (two_stage, "456")] {
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
        out.ok();
        assert_eq!(out.stdout.trim(), want, "{out:#?}");
    }
}
