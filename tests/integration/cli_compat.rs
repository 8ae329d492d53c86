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
    if reference_runc() {
        // runc 1.1.5 waits for the frozen process with SIGTERM handled: it hangs here.
        return;
    }
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

#[test]
fn run_keep_leaves_a_stopped_container_for_delete() {
    let env = TestEnv::new("clirunkeep");
    let bundle = env.bundle(&Config::sh("exit 3"));
    let id = env.id("k");
    let out = env.berth(&["run", "--keep", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 3, "{out:#?}");
    assert_eq!(env.status(&id), "stopped");
    assert_eq!(env.root_entries(), std::slice::from_ref(&id), "the state must stay until delete");
    env.delete(&id, false);
    assert!(env.root_entries().is_empty());
}

/// The parent pid of the orphan a `run` container leaves behind (it has no pid namespace,
/// so the orphan goes to the nearest subreaper); `run` is the berth pid.
fn orphan_parent(env: &TestEnv, flags: &[&str]) -> (i32, i32) {
    let probe = env.probe_dir();
    let script = "(sleep 30 & echo $! > /probe/bg); while [ ! -e /probe/go ]; do sleep 1; done";
    let cfg = Config::sh(script).without_namespace("pid").probe(&probe);
    let bundle = env.bundle(&cfg);
    let id = env.id("r");
    let mut args = vec!["run"];
    args.extend(flags);
    args.extend(["--bundle", bundle.to_str().unwrap(), &id]);
    let run = env.spawn(&args);
    assert!(appears(&probe.join("bg")));
    let bg: i32 = fs::read_to_string(probe.join("bg")).unwrap().trim().parse().unwrap();
    env.note_pid(bg);
    let status = fs::read_to_string(format!("/proc/{bg}/status")).unwrap();
    let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:")).unwrap().trim().parse();
    let berth = run.pid() as i32;
    fs::write(probe.join("go"), "").unwrap();
    run.wait().ok();
    (ppid.unwrap(), berth)
}

#[test]
fn run_no_subreaper_leaves_orphans_to_the_host() {
    let env = TestEnv::new("clinosubreaper");
    let (ppid, berth) = orphan_parent(&env, &[]);
    assert_eq!(ppid, berth, "by default the foreground run reaps the container's orphans");
    let (ppid, berth) = orphan_parent(&env, &["--no-subreaper"]);
    assert_ne!(ppid, berth, "--no-subreaper: the orphan must not go to berth");
}

/// Whether the host runs cgroup v2 only.
fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The `/proc/self/cgroup` lines of a process exec'd with `flags`, for the cgroup `cg`.
fn exec_cgroup_lines(env: &TestEnv, id: &str, cg: &str, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["exec"];
    args.extend(flags);
    args.extend([id, "cat", "/proc/self/cgroup"]);
    let out = env.berth(&args);
    out.ok();
    out.stdout.lines().filter(|l| l.contains(cg)).map(String::from).collect()
}

#[test]
fn exec_cgroup_joins_a_sub_cgroup_of_the_container() {
    let env = TestEnv::new("cliexeccg");
    let cg = env.id("cg");
    let cfg =
        Config::new(&["sleep", "60"]).set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}")));
    let id = started(&env, &cfg);
    for dir in crate::harness::cgroup_dirs(&cg).iter().filter(|d| d.is_dir()) {
        fs::create_dir_all(dir.join("sub")).unwrap();
        // A new v1 cpuset has no cpus or mems until given some; no task could join it.
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = fs::read_to_string(dir.join(file)) {
                fs::write(dir.join("sub").join(file), value.trim()).unwrap();
            }
        }
    }
    let plain = exec_cgroup_lines(&env, &id, &cg, &["--cgroup", "sub"]);
    assert!(!plain.is_empty());
    assert!(plain.iter().all(|l| l.ends_with(&format!("{cg}/sub"))), "{plain:#?}");
    let plain = exec_cgroup_lines(&env, &id, &cg, &["--cgroup", "/sub/../sub"]);
    assert!(plain.iter().all(|l| l.ends_with(&format!("{cg}/sub"))), "{plain:#?}");
    if !unified() {
        // cgroup v1: only the named controller goes down.
        let lines = exec_cgroup_lines(&env, &id, &cg, &["--cgroup", "pids:sub"]);
        let pids: Vec<_> = lines.iter().filter(|l| l.contains(":pids:")).collect();
        assert!(pids.len() == 1 && pids[0].ends_with("/sub"), "{lines:#?}");
        let others: Vec<_> = lines.iter().filter(|l| !l.contains(":pids:")).collect();
        assert!(!others.is_empty() && others.iter().all(|l| l.ends_with(&cg)), "{lines:#?}");
    }
    for bad in ["../..", "nope", "a:b:c"] {
        let out = env.berth(&["exec", "--cgroup", bad, &id, "true"]);
        out.fails_with_one_line();
        // runc words it "../.. is not a sub cgroup path"; berth names the flag.
        assert!(reference_runc() || out.stderr.contains("--cgroup"), "{out:#?}");
    }
    env.delete(&id, true);
}

#[test]
fn list_owner_is_the_owner_of_the_state_dir() {
    let env = TestEnv::new("clilistowner");
    let id = env.id("o");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    let owner = |env: &TestEnv| {
        let out = env.berth(&["list", "--format", "json"]);
        out.ok();
        let list: Value = serde_json::from_str(&out.stdout).unwrap();
        list[0]["owner"].as_str().unwrap().to_string()
    };
    assert_eq!(owner(&env), "root");
    let table = env.berth(&["list"]);
    let row = table.stdout.lines().find(|l| l.starts_with(&id)).unwrap().to_string();
    assert!(row.ends_with(" root"), "{table:#?}");
    // An owner without a passwd entry shows as #UID, as with runc.
    std::os::unix::fs::chown(env.root.join(&id), Some(54321), None).unwrap();
    assert_eq!(owner(&env), "#54321");
    assert_eq!(env.state(&id)["owner"], "", "state leaves the owner empty, as runc");
    env.delete(&id, true);
}

#[test]
fn the_criu_flag_is_accepted_and_ignored() {
    let env = TestEnv::new("clicriu");
    let id = env.id("c");
    let bundle = env.bundle(&Config::new(&["true"]));
    let b = bundle.to_str().unwrap();
    let out = env.berth(&["--criu", "/no/such/criu", "run", "--bundle", b, &id]);
    out.ok();
    env.berth(&["--criu", "/no/such/criu", "list"]).ok();
}

#[test]
fn version_has_runcs_lines_commit_and_libseccomp_included() {
    // go-runc's Version() reads the first three lines (version, commit, spec) in this order;
    // runc then adds `go:` and `libseccomp:`, berth only the latter.
    let env = TestEnv::new("cliversion");
    let out = env.berth(&["--version"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains(" version "), "{lines:?}");
    let commit = lines[1].strip_prefix("commit: ").unwrap_or_else(|| panic!("{lines:?}"));
    assert!(!commit.is_empty(), "{lines:?}");
    assert!(lines[2].starts_with("spec: 1."), "{lines:?}");
    let libseccomp = lines.iter().find_map(|l| l.strip_prefix("libseccomp: "));
    let parts: Vec<&str> = libseccomp.expect("no libseccomp line").split('.').collect();
    assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()), "{lines:?}");
}

#[test]
fn exec_failures_of_the_runtime_exit_255_and_the_programs_status_passes_through() {
    let env = TestEnv::new("exec255");
    let id = started(&env, &Config::new(&["sleep", "100"]));
    assert_eq!(env.berth(&["exec", &id, "false"]).code(), 1);
    assert_eq!(env.berth(&["exec", &id, "sh", "-c", "exit 42"]).code(), 42);
    let bad_pid_file = ["exec", "--pid-file", "/non-existent/directory", &id, "true"];
    for args in
        [&bad_pid_file[..], &["exec", &id, "no-such-binary"], &["exec", "no-such-id", "true"]]
    {
        let out = env.berth(args);
        assert_eq!(out.code(), 255, "{out:#?}");
    }
    env.delete(&id, true);
}
