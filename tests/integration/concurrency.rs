//! Concurrency and crashes: many runtimes at once on one id or one container, a runtime
//! SIGKILLed in the middle of `create`, and an init killed from the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{
    bin, cgroup_dirs, pid_alive, proc_stat, reference_runc, wait_for, Config, Out, TestEnv,
};

static OUT_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Runs the binary under test with `--root root`, its output in files under `dir`; usable
/// from several threads at once (a `TestEnv` is not).
fn berth_in(root: &Path, dir: &Path, args: &[&str]) -> Out {
    let n = OUT_SEQ.fetch_add(1, Ordering::SeqCst);
    let stdout = dir.join(format!("conc-{n}.out"));
    let stderr = dir.join(format!("conc-{n}.err"));
    let status = Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .status()
        .unwrap();
    Out {
        cmdline: format!("berth {}", args.join(" ")),
        status,
        stdout: fs::read_to_string(&stdout).unwrap_or_default(),
        stderr: fs::read_to_string(&stderr).unwrap_or_default(),
    }
}

/// The text berth and runc use for a taken id.
const ALREADY_EXISTS: &str = "container with given ID already exists";

#[test]
fn fifty_concurrent_creates_of_one_id_one_wins() {
    let env = TestEnv::new("create50");
    let id = env.id("same");
    let bundles: Vec<PathBuf> =
        (0..2).map(|_| env.bundle(&Config::new(&["sleep", "1000"]))).collect();
    let running: Vec<_> = (0..50)
        .map(|i| env.spawn(&["create", "--bundle", bundles[i % 2].to_str().unwrap(), &id]))
        .collect();
    let outs: Vec<Out> = running.into_iter().map(|r| r.wait()).collect();
    let winners: Vec<&Out> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(winners.len(), 1, "{outs:#?}");
    for loser in outs.iter().filter(|o| !o.status.success()) {
        loser.fails_with_one_line();
        if !reference_runc() {
            assert!(loser.stderr.contains(&format!("{ALREADY_EXISTS}: {id}")), "{loser:#?}");
        }
    }
    let state = env.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    let pid = env.pid_of(&id);
    assert!(proc_stat(pid).is_some(), "the winner's init {pid} is gone");
    env.delete(&id, true);
}

/// True when `out` is a `state` that parsed, or the one-line error of a deleted container.
fn state_is_whole(out: &Out, id: &str) -> Result<(), String> {
    if out.status.success() {
        let v: Value = serde_json::from_str(&out.stdout)
            .map_err(|e| format!("state output does not parse ({e}): {:?}", out.stdout))?;
        let status = v["status"].as_str().unwrap_or("");
        if v["id"] != id || !["created", "running", "paused", "stopped"].contains(&status) {
            return Err(format!("state output is not whole: {v}"));
        }
        return Ok(());
    }
    let lines: Vec<&str> = out.stderr.lines().collect();
    if lines.len() == 1 && lines[0].contains("does not exist") {
        Ok(())
    } else {
        Err(format!("state failed otherwise: {out:#?}"))
    }
}

#[test]
fn concurrent_kill_state_list_delete_never_tear_state() {
    let env = TestEnv::new("concstate");
    let id = env.id("c");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    env.create(&id, &bundle);
    env.start(&id);
    let others: Vec<String> = (0..8).map(|i| env.id(&format!("o{i}"))).collect();
    for other in &others {
        env.track(other);
    }
    let other_bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let done = AtomicBool::new(false);
    let (root, dir) = (env.root.as_path(), env.dir.as_path());
    let problems: Vec<String> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut problems = Vec::new();
                    let mut rounds = 0;
                    // At least a few rounds after the deletion, whatever the timing.
                    while !done.load(Ordering::SeqCst) || rounds < 5 {
                        rounds += 1;
                        if let Err(e) = state_is_whole(&berth_in(root, dir, &["state", &id]), &id) {
                            problems.push(e);
                        }
                        let list = berth_in(root, dir, &["list", "--format", "json"]);
                        match serde_json::from_str::<Value>(&list.stdout) {
                            Ok(Value::Array(_)) if list.status.success() => {}
                            _ => problems.push(format!("list: {list:#?}")),
                        }
                        let kill = berth_in(root, dir, &["kill", &id, "CONT"]);
                        let gone = kill.stderr.contains("does not exist")
                            || kill.stderr.contains("not running")
                            || kill.stderr.contains("stopped");
                        if !kill.status.success() && !gone {
                            problems.push(format!("kill: {kill:#?}"));
                        }
                    }
                    problems
                })
            })
            .collect();
        // Meanwhile other containers come and go in the same root, and then this one goes.
        let mut problems = Vec::new();
        for other in &others {
            let b = other_bundle.to_str().unwrap();
            for args in [
                vec!["create", "--bundle", b, other.as_str()],
                vec!["start", other.as_str()],
                vec!["delete", "--force", other.as_str()],
            ] {
                let out = berth_in(root, dir, &args);
                if !out.status.success() {
                    problems.push(format!("{out:#?}"));
                }
            }
        }
        let delete = berth_in(root, dir, &["delete", "--force", &id]);
        if !delete.status.success() {
            problems.push(format!("{delete:#?}"));
        }
        done.store(true, Ordering::SeqCst);
        for reader in readers {
            problems.extend(reader.join().unwrap());
        }
        problems
    });
    assert!(problems.is_empty(), "{} problems, first: {}", problems.len(), problems[0]);
    env.berth(&["state", &id]).fails_with_one_line();
}

#[test]
fn create_killed_in_a_create_runtime_hook_is_removed_by_delete_force() {
    let env = TestEnv::new("killcreate");
    let probe = env.probe_dir();
    let hook_pid = probe.join("hook.pid");
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c",
        format!("echo $$ > {}; exec sleep 1000", hook_pid.display())] });
    let cg = env.id("cg");
    let cfg = Config::new(&["sleep", "1000"])
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}")))
        .set("/hooks", json!({ "createRuntime": [hook] }));
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    let create = env.spawn(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    let hooked = wait_for(Duration::from_secs(20), || {
        fs::read_to_string(&hook_pid).is_ok_and(|s| s.ends_with('\n'))
    });
    assert!(hooked, "the createRuntime hook never ran: {:?}", create.stdout_so_far());
    let hook = fs::read_to_string(&hook_pid).unwrap().trim().parse::<i32>().unwrap();
    let hook_start = proc_stat(hook).map(|(start, _)| start);
    // The init is already in the container's cgroup, waiting for the hooks to finish.
    let procs = cgroup_dirs(&cg)
        .into_iter()
        .find_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .unwrap_or_default();
    let inits: Vec<(i32, u64)> = procs
        .lines()
        .filter_map(|l| l.parse().ok())
        .filter_map(|pid| proc_stat(pid).map(|(start, _)| (pid, start)))
        .collect();
    if !reference_runc() {
        assert_eq!(inits.len(), 1, "processes in the cgroup: {procs:?}");
    }
    for (pid, _) in &inits {
        env.note_pid(*pid);
    }
    drop(create); // SIGKILLs the runtime

    if !reference_runc() {
        assert_eq!(env.status(&id), "creating");
        let list = env.berth(&["list", "--format", "json"]);
        let v: Value = serde_json::from_str(&list.stdout).expect("list json");
        assert_eq!(v[0]["status"], "creating", "{v}");
    }
    env.delete(&id, true);
    env.berth(&["state", &id]).fails_with_one_line();
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
    for (pid, start) in inits {
        let gone = wait_for(Duration::from_secs(5), || !pid_alive(pid, start));
        assert!(gone, "init {pid} survived delete --force");
    }
    let left: Vec<PathBuf> = cgroup_dirs(&cg).into_iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    // berth's hooks die with it (bounds.rs tests that); runc leaves them, and then the
    // hook is this test's to kill.
    if let Some(start) = hook_start.filter(|s| pid_alive(hook, *s)) {
        unsafe { libc::kill(hook, libc::SIGKILL) };
        wait_for(Duration::from_secs(5), || !pid_alive(hook, start));
    }
}

#[test]
fn init_killed_from_the_host_is_stopped_in_state_and_list() {
    let env = TestEnv::new("hostkill");
    let created = env.id("created");
    let running = env.id("running");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    env.create(&created, &bundle);
    env.create(&running, &bundle);
    env.start(&running);
    for id in [&created, &running] {
        let pid = env.pid_of(id);
        unsafe { libc::kill(pid, libc::SIGKILL) };
        env.wait_status(id, "stopped");
        assert_eq!(env.state(id)["pid"], 0, "a stopped container reports pid 0");
    }
    let list = env.berth(&["list", "--format", "json"]);
    let v: Value = serde_json::from_str(&list.stdout).expect("list json");
    for item in v.as_array().expect("list json is an array") {
        assert_eq!(item["status"], "stopped", "{v}");
    }
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let table = env.berth(&["list"]);
    for id in [&created, &running] {
        let row = table.stdout.lines().find(|l| l.starts_with(id.as_str())).expect("row");
        assert_eq!(row.split_whitespace().nth(2), Some("stopped"), "{}", table.stdout);
        // Stopped: an ordinary delete is enough.
        env.delete(id, false);
    }
}
